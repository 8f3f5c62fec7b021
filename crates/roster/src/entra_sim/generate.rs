//! `entra-sim generate`: a realistic synthetic tenant, deterministic for a seed.
//! Accented names (ASCII `mailNickname`s by transliteration), departments with a
//! manager tree under a CEO, some disabled and soft-deleted users, and a few
//! large groups ("All staff", "People managers", one per department) followed
//! by smaller project groups.

use super::tenant::{Group, Tenant, User};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;

const GIVEN: &[&str] = &[
    "Zoë",
    "José",
    "Łukasz",
    "Björn",
    "Chloé",
    "François",
    "Søren",
    "Ângela",
    "Müge",
    "Ágnes",
    "Jürgen",
    "Renée",
    "Nuño",
    "Anaïs",
    "Dvořák",
    "Íñigo",
    "Małgorzata",
    "Åsa",
    "Çağla",
    "Siobhán",
    "Noël",
    "Ana",
    "James",
    "Mary",
    "Wei",
    "Priya",
    "Olu",
    "Kenji",
    "Fatima",
    "Liam",
    "Emma",
    "Mateo",
    "Sofía",
    "Håkon",
    "Þóra",
    "Zoltán",
    "Élodie",
    "Jiří",
    "Grzegorz",
    "Ayşe",
];
const FAMILY: &[&str] = &[
    "Müller",
    "García",
    "Nowak",
    "Öberg",
    "Lefèvre",
    "Ødegaard",
    "Conceição",
    "Yılmaz",
    "Kovács",
    "Schäfer",
    "Dupré",
    "Núñez",
    "O'Brien",
    "Smith-Jones",
    "Wójcik",
    "Åkesson",
    "Şahin",
    "Ní Bhriain",
    "Nguyễn",
    "Jensen",
    "Kim",
    "Patel",
    "Okafor",
    "Tanaka",
    "Haddad",
    "Brown",
    "Rossi",
    "Fernández",
    "Sørensen",
    "Guðmundsson",
    "Horváth",
    "Lévesque",
    "Novák",
    "Zieliński",
    "Çelik",
];
const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "Human Resources",
    "Legal",
    "Operations",
    "Customer Support",
    "Research & Development",
];
const TITLES: &[&str] = &["Associate", "Specialist", "Senior Specialist", "Lead", "Analyst", "Coordinator", "Manager"];
const PROJECTS: &[&str] = &[
    "Aurora", "Borealis", "Cobalt", "Dynamo", "Ember", "Falcon", "Granite", "Helios", "Iris", "Juniper", "Krypton",
    "Lumen", "Meridian", "Nebula", "Onyx", "Pioneer", "Quartz", "Radiant", "Sierra", "Tundra",
];

/// ASCII transliteration for a `mailNickname` (letters, digits, `.`, `-`).
pub fn ascii_nick(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        let rep: &str = match c {
            'a'..='z' | '0'..='9' | '-' | '.' => {
                out.push(c);
                continue;
            }
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ą' => "a",
            'æ' => "ae",
            'ç' | 'ć' | 'č' => "c",
            'ð' | 'ď' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ę' | 'ě' | 'ễ' => "e",
            'ğ' => "g",
            'ì' | 'í' | 'î' | 'ï' | 'ı' => "i",
            'ł' => "l",
            'ñ' | 'ń' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => "o",
            'ř' => "r",
            'ś' | 'š' | 'ş' => "s",
            'ß' => "ss",
            'þ' => "th",
            'ù' | 'ú' | 'û' | 'ü' | 'ů' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            ' ' => "-",
            _ => "",
        };
        out.push_str(rep);
    }
    out
}

fn guid(rng: &mut ChaCha8Rng) -> String {
    let b: [u8; 16] = rng.gen();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-4{}-8{}-{}-{}", &h[0..8], &h[9..12], &h[13..16], &h[16..20], &h[20..32])
}

/// Builds the tenant; the same `(users, groups, seed)` always gives the same tenant.
pub fn generate(users: usize, groups: usize, seed: u64, domain: &str) -> Tenant {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out: Vec<User> = Vec::with_capacity(users);
    let mut nicks: HashSet<String> = HashSet::new();
    // Department of each user and the users of each department, in order.
    let mut by_dept: Vec<Vec<usize>> = vec![vec![]; DEPARTMENTS.len()];
    for i in 0..users {
        let given = *GIVEN.choose(&mut rng).unwrap_or(&"Alex");
        let family = *FAMILY.choose(&mut rng).unwrap_or(&"Doe");
        let base = format!("{}.{}", ascii_nick(given), ascii_nick(family));
        let mut nick = base.clone();
        let mut n = 2;
        while !nicks.insert(nick.clone()) {
            nick = format!("{base}{n}");
            n += 1;
        }
        let heads = DEPARTMENTS.len().min(users.saturating_sub(1));
        let (dept, title, manager, dept_idx) = if i == 0 {
            ("Executive".to_string(), Some("Chief Executive Officer".to_string()), None, None)
        } else if i <= heads {
            let d = i - 1;
            (DEPARTMENTS[d].to_string(), Some(format!("Head of {}", DEPARTMENTS[d])), Some(0), Some(d))
        } else {
            let d = rng.gen_range(0..heads.max(1));
            // Managers come from the same department: a tree rooted at its head.
            let peers = &by_dept[d];
            let mgr = peers.get(rng.gen_range(0..peers.len().max(1))).copied().unwrap_or(0);
            let title = if rng.gen_bool(0.05) {
                None // Entra skips null attributes
            } else {
                TITLES.choose(&mut rng).map(|t| t.to_string())
            };
            (DEPARTMENTS[d].to_string(), title, Some(mgr), Some(d))
        };
        if let Some(d) = dept_idx {
            by_dept[d].push(i);
        }
        let ordinary = i > heads;
        let roll: f64 = rng.gen();
        let (account_enabled, is_soft_deleted) = match roll {
            r if ordinary && r < 0.04 => (false, false),
            r if ordinary && r < 0.05 => (true, true),
            _ => (true, false),
        };
        out.push(User {
            object_id: guid(&mut rng),
            user_principal_name: Some(format!("{nick}@{domain}")),
            mail_nickname: Some(nick),
            given_name: Some(given.to_string()),
            surname: Some(family.to_string()),
            display_name: Some(format!("{given} {family}")),
            job_title: title,
            department: Some(dept),
            employee_id: Some(format!("E{:06}", 100_000 + i)),
            manager: manager.map(|m: usize| m.to_string()), // index for now, objectId below
            account_enabled,
            is_soft_deleted,
        });
    }
    let oids: Vec<String> = out.iter().map(|u| u.object_id.clone()).collect();
    for u in &mut out {
        u.manager = u.manager.as_deref().and_then(|m| m.parse::<usize>().ok()).and_then(|m| oids.get(m).cloned());
    }

    let mut gs: Vec<Group> = vec![];
    let mut names: HashSet<String> = HashSet::new();
    let mut push = |gs: &mut Vec<Group>, rng: &mut ChaCha8Rng, name: String, members: Vec<String>| {
        if gs.len() < groups && names.insert(name.clone()) {
            gs.push(Group { object_id: guid(rng), display_name: name, members });
        }
    };
    push(&mut gs, &mut rng, "All staff".into(), oids.clone());
    let managers: HashSet<&str> = out.iter().filter_map(|u| u.manager.as_deref()).collect();
    let mgr_members: Vec<String> = oids.iter().filter(|o| managers.contains(o.as_str())).cloned().collect();
    push(&mut gs, &mut rng, "People managers".into(), mgr_members);
    for (d, members) in DEPARTMENTS.iter().zip(&by_dept) {
        let m = members.iter().filter_map(|i| oids.get(*i).cloned()).collect();
        push(&mut gs, &mut rng, format!("{d} team"), m);
    }
    let mut k = 0usize;
    while gs.len() < groups && !oids.is_empty() {
        let name = match k / PROJECTS.len() {
            0 => format!("Project {}", PROJECTS[k % PROJECTS.len()]),
            n => format!("Project {} {}", PROJECTS[k % PROJECTS.len()], n + 1),
        };
        k += 1;
        let size = rng.gen_range(3..=oids.len().clamp(3, 60)).min(oids.len());
        let mut members: Vec<String> = oids.choose_multiple(&mut rng, size).cloned().collect();
        members.sort();
        push(&mut gs, &mut rng, name, members);
    }
    Tenant { users: out, groups: gs }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_for_a_seed() {
        assert_eq!(generate(50, 8, 7, "contoso.example"), generate(50, 8, 7, "contoso.example"));
        assert_ne!(generate(50, 8, 7, "contoso.example"), generate(50, 8, 8, "contoso.example"));
    }

    #[test]
    fn realistic_shape() {
        let t = generate(300, 20, 1, "contoso.example");
        assert_eq!((t.users.len(), t.groups.len()), (300, 20));
        let by_id = t.user_map();
        let ceo = &t.users[0];
        assert!(ceo.manager.is_none() && ceo.active());
        for u in &t.users[1..] {
            let m = by_id[u.manager.as_deref().unwrap()];
            if m.object_id != ceo.object_id {
                assert_eq!(m.department, u.department, "managers are in the same department");
            }
            let nick = u.mail_nickname.as_deref().unwrap();
            assert!(nick.is_ascii() && nick.starts_with(|c: char| c.is_ascii_lowercase()), "{nick}");
        }
        let nicks: HashSet<_> = t.users.iter().map(|u| u.mail_nickname.clone()).collect();
        assert_eq!(nicks.len(), 300);
        assert!(t.users.iter().any(|u| !u.is_ascii_name()));
        assert!(t.users.iter().any(|u| !u.account_enabled) && t.users.iter().any(|u| u.is_soft_deleted));
        assert_eq!(t.groups[0].display_name, "All staff");
        assert_eq!(t.groups[0].members.len(), 300);
        let names: HashSet<_> = t.groups.iter().map(|g| &g.display_name).collect();
        assert_eq!(names.len(), 20);
        assert_eq!(ascii_nick("Łukasz"), "lukasz");
        assert_eq!(ascii_nick("O'Brien"), "obrien");
        assert_eq!(ascii_nick("Ní Bhriain"), "ni-bhriain");
    }

    impl User {
        fn is_ascii_name(&self) -> bool {
            self.display_name.as_deref().is_some_and(str::is_ascii)
        }
    }
}
