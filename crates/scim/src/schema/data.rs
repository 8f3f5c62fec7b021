//! The schema definitions of RFC 7643 §4 and §8.7, as static data.

use super::{
    AttrType::*, Attribute as A, Mutability::*, ResourceType, Returned, Schema, SchemaExtension, Uniqueness,
    ENTERPRISE_USER_SCHEMA_URN, GROUP_SCHEMA_URN, USER_SCHEMA_URN,
};

/// `id`, `externalId` and `meta`: common to every resource (RFC 7643 §3.1).
pub static COMMON_ATTRIBUTES: &[A] = &[
    A::new("id", String, "Unique identifier for the resource, assigned by the service provider.")
        .case_exact()
        .mutability(ReadOnly)
        .returned(Returned::Always)
        .unique(Uniqueness::Server),
    A::new("externalId", String, "Identifier of the resource as defined by the provisioning client.").case_exact(),
    A::new("meta", Complex, "Resource metadata.").mutability(ReadOnly).subs(&[
        A::new("resourceType", String, "The name of the resource type.").case_exact().mutability(ReadOnly),
        A::new("created", DateTime, "When the resource was added.").mutability(ReadOnly),
        A::new("lastModified", DateTime, "When the resource was last changed.").mutability(ReadOnly),
        A::new("location", Reference, "The URI of the resource.").case_exact().mutability(ReadOnly).refs(&["uri"]),
        A::new("version", String, "The version (ETag) of the resource.").case_exact().mutability(ReadOnly),
    ]),
];

const fn value_display_type_primary(value_ty: super::AttrType, types: &'static [&'static str]) -> [A; 4] {
    [
        A::new("value", value_ty, "The attribute's value."),
        A::new("display", String, "A human-readable name, primarily used for display purposes."),
        A::new("type", String, "A label indicating the attribute's function.").canonical(types),
        A::new("primary", Boolean, "Whether this is the primary value of the attribute."),
    ]
}

static EMAIL_SUBS: [A; 4] = value_display_type_primary(String, &["work", "home", "other"]);
static PHONE_SUBS: [A; 4] = value_display_type_primary(String, &["work", "home", "mobile", "fax", "pager", "other"]);
static IM_SUBS: [A; 4] = value_display_type_primary(String, &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]);
static PHOTO_SUBS: [A; 4] = [
    A::new("value", Reference, "URL of a photo of the user.").case_exact().refs(&["external"]),
    A::new("display", String, "A human-readable name, primarily used for display purposes."),
    A::new("type", String, "A label indicating the attribute's function.").canonical(&["photo", "thumbnail"]),
    A::new("primary", Boolean, "Whether this is the primary value of the attribute."),
];
static GENERIC_SUBS: [A; 4] = value_display_type_primary(String, &[]);
static CERT_SUBS: [A; 4] = value_display_type_primary(Binary, &[]);

static USER_ATTRIBUTES: &[A] = &[
    A::new("userName", String, "Unique identifier for the user, used to sign in.")
        .required()
        .unique(Uniqueness::Server),
    A::new("name", Complex, "The components of the user's real name.").subs(&[
        A::new("formatted", String, "The full name, formatted for display."),
        A::new("familyName", String, "The family name of the user."),
        A::new("givenName", String, "The given name of the user."),
        A::new("middleName", String, "The middle name(s) of the user."),
        A::new("honorificPrefix", String, "The honorific prefix(es) of the user."),
        A::new("honorificSuffix", String, "The honorific suffix(es) of the user."),
    ]),
    A::new("displayName", String, "The name of the user, suitable for display."),
    A::new("nickName", String, "The casual way to address the user."),
    A::new("profileUrl", Reference, "A URI of the user's online profile.").refs(&["external"]),
    A::new("title", String, "The user's title, such as \"Vice President\"."),
    A::new("userType", String, "The relationship between the organisation and the user."),
    A::new("preferredLanguage", String, "The user's preferred written or spoken language."),
    A::new("locale", String, "The user's default location for localisation."),
    A::new("timezone", String, "The user's time zone, in the IANA format."),
    A::new("active", Boolean, "The user's administrative status."),
    A::new("password", String, "The user's clear-text password; never returned.")
        .mutability(WriteOnly)
        .returned(Returned::Never),
    A::new("emails", Complex, "Email addresses for the user.").multi().subs(&EMAIL_SUBS),
    A::new("phoneNumbers", Complex, "Phone numbers for the user.").multi().subs(&PHONE_SUBS),
    A::new("ims", Complex, "Instant messaging addresses for the user.").multi().subs(&IM_SUBS),
    A::new("photos", Complex, "URLs of photos of the user.").multi().subs(&PHOTO_SUBS),
    A::new("addresses", Complex, "Physical mailing addresses for the user.").multi().subs(&[
        A::new("formatted", String, "The full mailing address, formatted for display."),
        A::new("streetAddress", String, "The full street address component."),
        A::new("locality", String, "The city or locality component."),
        A::new("region", String, "The state or region component."),
        A::new("postalCode", String, "The zip code or postal code component."),
        A::new("country", String, "The country name component."),
        A::new("type", String, "A label indicating the attribute's function.").canonical(&["work", "home", "other"]),
        A::new("primary", Boolean, "Whether this is the primary address."),
    ]),
    A::new("groups", Complex, "The groups the user belongs to.")
        .multi()
        .mutability(ReadOnly)
        .subs(&[
            A::new("value", String, "The identifier of the group.").mutability(ReadOnly),
            A::new("$ref", Reference, "The URI of the group.").mutability(ReadOnly).refs(&["Group"]),
            A::new("display", String, "The display name of the group.").mutability(ReadOnly),
            A::new("type", String, "How the membership was derived.")
                .mutability(ReadOnly)
                .canonical(&["direct", "indirect"]),
        ]),
    A::new("entitlements", Complex, "Entitlements of the user.").multi().subs(&GENERIC_SUBS),
    A::new("roles", Complex, "Roles of the user.").multi().subs(&GENERIC_SUBS),
    A::new("x509Certificates", Complex, "X.509 certificates of the user.").multi().subs(&CERT_SUBS),
];

static ENTERPRISE_USER_ATTRIBUTES: &[A] = &[
    A::new("employeeNumber", String, "A string identifier of the user, typically from HR."),
    A::new("costCenter", String, "The name of a cost center."),
    A::new("organization", String, "The name of an organisation."),
    A::new("division", String, "The name of a division."),
    A::new("department", String, "The name of a department."),
    A::new("manager", Complex, "The user's manager: another user of the same organisation.").subs(&[
        A::new("value", String, "The id of the manager's User resource.").case_exact(),
        A::new("$ref", Reference, "The URI of the manager's User resource.").refs(&["User"]),
        A::new("displayName", String, "The manager's display name.").mutability(ReadOnly),
    ]),
];

static GROUP_ATTRIBUTES: &[A] = &[
    A::new("displayName", String, "A human-readable name for the group.").required().unique(Uniqueness::Server),
    A::new("members", Complex, "A list of the members of the group.").multi().subs(&[
        A::new("value", String, "The id of the member resource.").case_exact().mutability(Immutable),
        A::new("$ref", Reference, "The URI of the member resource.")
            .mutability(Immutable)
            .refs(&["User", "Group"]),
        A::new("display", String, "The member's display name.").mutability(ReadOnly),
        A::new("type", String, "The type of the member.").mutability(Immutable).canonical(&["User", "Group"]),
    ]),
];

/// The core User schema (RFC 7643 §4.1).
pub static USER_SCHEMA: Schema = Schema {
    id: USER_SCHEMA_URN,
    name: "User",
    description: "User Account",
    attributes: USER_ATTRIBUTES,
};

/// The Enterprise User extension (RFC 7643 §4.3).
pub static ENTERPRISE_USER_SCHEMA: Schema = Schema {
    id: ENTERPRISE_USER_SCHEMA_URN,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_USER_ATTRIBUTES,
};

/// The core Group schema (RFC 7643 §4.2).
pub static GROUP_SCHEMA: Schema = Schema {
    id: GROUP_SCHEMA_URN,
    name: "Group",
    description: "Group",
    attributes: GROUP_ATTRIBUTES,
};

/// The User resource type, with the Enterprise User extension.
pub static USER: ResourceType = ResourceType {
    id: "User",
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    schema: &USER_SCHEMA,
    extensions: &[SchemaExtension { schema: &ENTERPRISE_USER_SCHEMA, required: false }],
};

/// The Group resource type.
pub static GROUP: ResourceType = ResourceType {
    id: "Group",
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    schema: &GROUP_SCHEMA,
    extensions: &[],
};

/// Every resource type Roster serves.
pub static RESOURCE_TYPES: &[&ResourceType] = &[&USER, &GROUP];
