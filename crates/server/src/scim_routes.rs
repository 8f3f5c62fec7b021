//! The SCIM 2.0 endpoints under `/scim/v2`.

use crate::auth::{Credentials, ScimCaller};
use crate::body::ScimJson;
use crate::error::{method_not_allowed, scim_bytes, scim_json, ApiError};
use crate::read_cache::Answer;
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use directory::groups::{read_group, read_groups, render_group, GroupView};
use directory::store::{Page, UserQuery};
use directory::users::{read_user_linked, read_users_linked, render_user_linked, render_user_linked_json, UserLinks};
use directory::UserRecord;
use scim::filter::{CompareOp, Filter};
use scim::list::{encode_cursor, list_response, Cursor, ListQuery, ListResponse};
use scim::patch::PatchRequest;
use scim::projection::Projection;
use scim::schema::{self, ResourceType, GROUP, USER};
use scim::ScimError;
use serde_json::value::RawValue;
use serde_json::Value;

/// The resource types this server serves and announces.
const SERVED: &[&ResourceType] = &[&USER, &GROUP];

/// The SCIM endpoints, under `base` (`/scim/v2`).
pub fn routes(base: &str) -> Router<AppState> {
    let at = |path: &str| format!("{base}{path}");
    Router::new()
        .route(&at("/ServiceProviderConfig"), get(service_provider_config))
        .route(&at("/ResourceTypes"), get(resource_types))
        .route(&at("/ResourceTypes/{id}"), get(resource_type))
        .route(&at("/Schemas"), get(schemas))
        .route(&at("/Schemas/{id}"), get(schema_by_id))
        // Root search (RFC 7644 §3.4.3): Users, then Groups.
        .route(&at("/.search"), post(search_all))
        .route(&at("/Users"), get(list_users).post(create_user))
        .route(&at("/Users/.search"), post(search_users))
        .route(&at("/Users/{id}"), get(get_user).put(replace_user).patch(patch_user).delete(delete_user))
        .route(&at("/Groups"), get(list_groups).post(create_group))
        .route(&at("/Groups/.search"), post(search_groups))
        .route(&at("/Groups/{id}"), get(get_group).put(replace_group).patch(patch_group).delete(delete_group))
        .method_not_allowed_fallback(method_not_allowed)
}

/// A filter that is one equality on an indexed key: `id`, `externalId`, and
/// a user's `userName` or a group's `displayName`.
fn is_point_lookup(rt: &ResourceType, filter: &Filter) -> bool {
    let name_key = if rt.name == GROUP.name { "displayName" } else { "userName" };
    matches!(filter, Filter::Compare(path, CompareOp::Eq, _)
        if path.sub_attr.is_none()
            && path.urn.as_deref().is_none_or(|urn| urn.eq_ignore_ascii_case(rt.schema.id))
            && [name_key, "id", "externalId"].iter().any(|k| path.attr.eq_ignore_ascii_case(k)))
}

/// Decodes a query string: `+` is a space (Entra form-encodes filters).
fn query_pairs(raw: &Option<String>) -> Vec<(String, String)> {
    raw.as_deref().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

fn projection_from(rt: &ResourceType, raw: &Option<String>) -> Projection {
    let pairs = query_pairs(raw);
    let find = |name: &str| pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    Projection::parse(rt, find("attributes"), find("excludedAttributes"))
}

async fn service_provider_config(State(app): State<AppState>) -> Response {
    let opts = schema::ServiceProviderOptions {
        max_results: app.config.list_limits.max_count,
        default_page_size: app.config.list_limits.default_count,
        max_payload_size: app.config.max_body_bytes as u64,
        base_url: app.config.scim_base(),
    };
    scim_json(StatusCode::OK, &schema::service_provider_config(&opts))
}

async fn resource_types(State(app): State<AppState>) -> Result<Response, ApiError> {
    let doc = schema::resource_types_document(&app.config.scim_base(), SERVED, None);
    Ok(scim_json(StatusCode::OK, &doc.unwrap_or_default()))
}

async fn resource_type(State(app): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    schema::resource_types_document(&app.config.scim_base(), SERVED, Some(&id))
        .map(|d| scim_json(StatusCode::OK, &d))
        .ok_or_else(|| ApiError(ScimError::not_found(format!("ResourceType {id} not found."))))
}

async fn schemas(State(app): State<AppState>) -> Result<Response, ApiError> {
    let doc = schema::schemas_document(&app.config.scim_base(), SERVED, None);
    Ok(scim_json(StatusCode::OK, &doc.unwrap_or_default()))
}

async fn schema_by_id(State(app): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    schema::schemas_document(&app.config.scim_base(), SERVED, Some(&id))
        .map(|d| scim_json(StatusCode::OK, &d))
        .ok_or_else(|| ApiError(ScimError::not_found(format!("Schema {id} not found."))))
}

/// A user rendered with its links and the request's projection.
fn user_json(app: &AppState, user: &UserRecord, links: &UserLinks, projection: &Projection) -> Value {
    let full = render_user_linked(user, links, &app.config.scim_base());
    if projection.is_default() {
        full
    } else {
        projection.apply(&USER, &full)
    }
}

/// A user's weak ETag: its version.
fn user_etag(user: &UserRecord) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("W/\"{}\"", user.version)).ok()
}

fn with_user_headers(mut resp: Response, app: &AppState, user: &UserRecord, created: bool) -> Response {
    if let Some(v) = user_etag(user) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    if created {
        if let Ok(v) = HeaderValue::from_str(&format!("{}/Users/{}", app.config.scim_base(), user.id)) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
    }
    resp
}

/// Answers a user list query of the caller's organisation.
async fn run_user_query(app: &AppState, org_id: i64, query: ListQuery) -> Result<Response, ApiError> {
    let q = query.clone();
    let with_groups = !query.projection.omits(&USER, "groups");
    let page = app.blocking(move |dir| dir.list_users_linked(org_id, &store_query(&q), with_groups)).await?;
    Ok(user_page_response(app, &query, &page))
}

fn user_page_response(app: &AppState, query: &ListQuery, page: &Page<(UserRecord, UserLinks)>) -> Response {
    scim_bytes(StatusCode::OK, user_page_bytes(app, query, page))
}

fn user_page_bytes(app: &AppState, query: &ListQuery, page: &Page<(UserRecord, UserLinks)>) -> Vec<u8> {
    let resources: Vec<Box<RawValue>> =
        page.items.iter().filter_map(|(u, l)| user_raw(app, u, l, &query.projection)).collect();
    serde_json::to_vec(&list_body(&USER, query, page.total, page.next, resources)).unwrap_or_default()
}

/// A user's body as a GET answers it: from the stored text when no
/// projection is asked for (see `render_user_linked_json`).
fn user_bytes(app: &AppState, user: &UserRecord, links: &UserLinks, projection: &Projection) -> Vec<u8> {
    if projection.is_default() {
        render_user_linked_json(user, links, &app.config.scim_base())
    } else {
        serde_json::to_vec(&user_json(app, user, links, projection)).unwrap_or_default()
    }
}

/// [`user_bytes`] as a list member (both renderings are JSON; the value
/// rendering stands in should that ever not hold).
fn user_raw(app: &AppState, user: &UserRecord, links: &UserLinks, projection: &Projection) -> Option<Box<RawValue>> {
    let bytes = user_bytes(app, user, links, projection);
    String::from_utf8(bytes)
        .ok()
        .and_then(|text| RawValue::from_string(text).ok())
        .or_else(|| serde_json::value::to_raw_value(&user_json(app, user, links, projection)).ok())
}

/// A parsed list query as the directory takes it (users and groups alike).
fn store_query(q: &ListQuery) -> UserQuery<'_> {
    UserQuery {
        filter: q.filter.as_ref(),
        sort_by: q.sort_by.as_ref(),
        sort_order: q.sort_order,
        start_index: q.start_index,
        count: q.count,
        after: q.cursor.map(Cursor::position),
    }
}

/// The list query of a `GET /Users` or `GET /Groups`. A malformed one is
/// reported only to a caller with a valid key: without one, the answer is
/// 401, which says nothing about the filter.
async fn checked_list_query(
    app: &AppState,
    rt: &ResourceType,
    raw: &Option<String>,
    credentials: Credentials,
) -> Result<(ListQuery, Credentials), ApiError> {
    match list_query(rt, raw, app) {
        Ok(query) => Ok((query, credentials)),
        Err(e) => {
            app.caller(credentials).await?;
            Err(e)
        }
    }
}

/// The list query in a query string (`GET /Users`, `GET /Groups`).
fn list_query(rt: &ResourceType, raw: &Option<String>, app: &AppState) -> Result<ListQuery, ApiError> {
    let pairs = query_pairs(raw);
    Ok(ListQuery::from_pairs(rt, pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), &app.config.list_limits)?)
}

/// The ListResponse of an index-paged or a cursor-paged (RFC 9865) query.
fn list_body<R>(rt: &ResourceType, query: &ListQuery, total: u64, next: Option<i64>, resources: Vec<R>) -> ListResponse<R> {
    match query.cursor {
        Some(_) => ListResponse::cursor_paged(total, resources, next.map(|p| encode_cursor(rt, query.filter.as_ref(), p))),
        None => ListResponse::index_paged(total, query.start_index, resources),
    }
}

async fn list_users(
    State(app): State<AppState>,
    credentials: Credentials,
    RawQuery(raw): RawQuery,
    uri: Uri,
) -> Result<Response, ApiError> {
    // A lookup answered before, with nothing committed since, needs no parsing.
    let key = app.read_key(&credentials, &uri);
    if let Some(answer) = app.kept_answer(&key, &credentials) {
        return Ok(answer.into_response());
    }
    let (query, credentials) = checked_list_query(&app, &USER, &raw, credentials).await?;
    // Entra's lookups (`userName eq "…"`) are point reads: authenticated in the same transaction.
    let point = query.filter.as_ref().is_some_and(|f| is_point_lookup(&USER, f)) && query.count <= 100;
    if !point {
        let org_id = app.caller_hashed(key.token_hash, credentials.log_slot.as_ref()).await?.org.id;
        return run_user_query(&app, org_id, query).await;
    }
    let q = query.clone();
    let with_groups = !query.projection.omits(&USER, "groups");
    let answer = app
        .read_and_keep(
            key,
            credentials,
            move |tx, org_id| read_users_linked(tx, org_id, &store_query(&q), with_groups),
            |page| Answer { body: user_page_bytes(&app, &query, &page).into(), etag: None },
        )
        .await?;
    Ok(answer.into_response())
}

async fn search_users(
    State(app): State<AppState>,
    caller: ScimCaller,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let query = ListQuery::from_search_body(&USER, &body, &app.config.list_limits)?;
    run_user_query(&app, caller.0.org.id, query).await
}

async fn get_user(
    State(app): State<AppState>,
    credentials: Credentials,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    uri: Uri,
) -> Result<Response, ApiError> {
    let key = app.read_key(&credentials, &uri);
    if let Some(answer) = app.kept_answer(&key, &credentials) {
        return Ok(answer.into_response());
    }
    let projection = projection_from(&USER, &raw);
    let with_groups = !projection.omits(&USER, "groups");
    let answer = app
        .read_and_keep(
            key,
            credentials,
            move |tx, org_id| read_user_linked(tx, org_id, &id, with_groups),
            |(user, links)| Answer {
                body: user_bytes(&app, &user, &links, &projection).into(),
                etag: user_etag(&user),
            },
        )
        .await?;
    Ok(answer.into_response())
}

async fn create_user(
    State(app): State<AppState>,
    caller: ScimCaller,
    RawQuery(raw): RawQuery,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let actor = caller.0;
    let (user, links) = app
        .write(move |dir| {
            let user = dir.create_user(&actor, &body)?;
            let links = dir.links_of(&user, false)?;
            Ok((user, links))
        })
        .await?;
    let json = user_json(&app, &user, &links, &projection_from(&USER, &raw));
    Ok(with_user_headers(scim_json(StatusCode::CREATED, &json), &app, &user, true))
}

async fn replace_user(
    State(app): State<AppState>,
    caller: ScimCaller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let actor = caller.0;
    let written = app.write(move |dir| dir.replace_user(&actor, &id, &body)).await?;
    let json = user_json(&app, &written.user, &written.links, &projection_from(&USER, &raw));
    Ok(with_user_headers(scim_json(StatusCode::OK, &json), &app, &written.user, false))
}

/// Reads a PatchOp body, with an error that says which part is wrong.
fn patch_request(body: Value) -> Result<PatchRequest, ApiError> {
    if !body.is_object() {
        return Err(ApiError(ScimError::invalid_syntax("A PATCH body must be a JSON object with \"Operations\".")));
    }
    serde_json::from_value::<PatchRequest>(body).map_err(|e| {
        ApiError(ScimError::invalid_syntax(format!(
            "The PATCH body is not a valid PatchOp message ({e}). Send {{\"schemas\": \
             [\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"], \"Operations\": [{{\"op\": …, \"path\": …, \
             \"value\": …}}]}}."
        )))
    })
}

async fn patch_user(
    State(app): State<AppState>,
    caller: ScimCaller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let patch = patch_request(body)?;
    let actor = caller.0;
    let written = app.write(move |dir| dir.patch_user(&actor, &id, &patch)).await?;
    let json = user_json(&app, &written.user, &written.links, &projection_from(&USER, &raw));
    Ok(with_user_headers(scim_json(StatusCode::OK, &json), &app, &written.user, false))
}

async fn delete_user(
    State(app): State<AppState>,
    caller: ScimCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let actor = caller.0;
    app.write(move |dir| dir.delete_user(&actor, &id)).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(crate::error::SCIM_JSON));
    Ok(resp)
}

/// `POST /.search`: the filter runs over Users and Groups; the results are
/// the matching users (in their order) followed by the matching groups, paged
/// as one list. `sortBy` orders within each resource type.
async fn search_all(
    State(app): State<AppState>,
    caller: ScimCaller,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let users_q = ListQuery::from_search_body(&USER, &body, &app.config.list_limits)?;
    let groups_q = ListQuery::from_search_body(&GROUP, &body, &app.config.list_limits)?;
    if users_q.cursor.is_some() {
        // One cursor would have to span two tables; the typed endpoints page by cursor.
        return Err(ApiError(ScimError::invalid_value(
            "cursor paging is offered on /Users, /Groups and their /.search, not on the root /.search; \
             use startIndex here.",
        )));
    }
    let org_id = caller.0.org.id;
    let (uq, gq) = (users_q.clone(), groups_q.clone());
    let with_groups = !users_q.projection.omits(&USER, "groups");
    let with_members = !groups_q.projection.omits(&GROUP, "members");
    // The root search pages by index over both tables (no cursor, checked above).
    fn query(q: &ListQuery, start_index: u64, count: u64) -> UserQuery<'_> {
        UserQuery { start_index, count, after: None, ..store_query(q) }
    }
    let (total, users, groups) = app
        .blocking(move |dir| {
            let user_total = dir.list_users(org_id, &query(&uq, 1, 0))?.total;
            let offset = uq.start_index - 1;
            let users = if offset < user_total && uq.count > 0 {
                dir.list_users_linked(org_id, &query(&uq, uq.start_index, uq.count), with_groups)?.items
            } else {
                Vec::new()
            };
            let left = uq.count.saturating_sub(users.len() as u64);
            let group_start = offset.saturating_sub(user_total) + 1;
            let groups = dir.list_groups(org_id, &query(&gq, group_start, left), with_members)?;
            Ok((user_total + groups.total, users, groups.items))
        })
        .await?;
    let mut resources: Vec<Value> = users.iter().map(|(u, l)| user_json(&app, u, l, &users_q.projection)).collect();
    resources.extend(groups.iter().map(|g| group_json(&app, g, &groups_q.projection)));
    Ok(scim_json(StatusCode::OK, &list_response(total, users_q.start_index, resources)))
}

fn no_content() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(crate::error::SCIM_JSON));
    resp
}

/// A group rendered with the request's projection.
fn group_json(app: &AppState, view: &GroupView, projection: &Projection) -> Value {
    let full = render_group(&view.group, view.members.as_deref(), &app.config.scim_base());
    if projection.is_default() {
        full
    } else {
        projection.apply(&GROUP, &full)
    }
}

fn with_group_headers(mut resp: Response, app: &AppState, view: &GroupView, created: bool) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("W/\"{}\"", view.group.version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    if created {
        if let Ok(v) = HeaderValue::from_str(&format!("{}/Groups/{}", app.config.scim_base(), view.group.id)) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
    }
    resp
}

/// Whether the client asked for a projection (`attributes` or `excludedAttributes`).
fn asks_for_attributes(raw: &Option<String>) -> bool {
    query_pairs(raw)
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("attributes") || k.eq_ignore_ascii_case("excludedAttributes"))
}

/// Answers a group list query of the caller's organisation.
async fn run_group_query(app: &AppState, org_id: i64, query: ListQuery) -> Result<Response, ApiError> {
    let q = query.clone();
    let with_members = !query.projection.omits(&GROUP, "members");
    let page = app.blocking(move |dir| dir.list_groups(org_id, &store_query(&q), with_members)).await?;
    Ok(group_page_response(app, &query, &page))
}

fn group_page_response(app: &AppState, query: &ListQuery, page: &Page<GroupView>) -> Response {
    let resources = page.items.iter().map(|g| group_json(app, g, &query.projection)).collect();
    scim_json(StatusCode::OK, &list_body(&GROUP, query, page.total, page.next, resources))
}

async fn list_groups(
    State(app): State<AppState>,
    credentials: Credentials,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (query, credentials) = checked_list_query(&app, &GROUP, &raw, credentials).await?;
    // `excludedAttributes=members` (Entra's every lookup) never reads a member
    // list, and a lookup by displayName is then a point read.
    let with_members = !query.projection.omits(&GROUP, "members");
    let point = !with_members && query.filter.as_ref().is_some_and(|f| is_point_lookup(&GROUP, f)) && query.count <= 100;
    if !point {
        let org_id = app.caller(credentials).await?.org.id;
        return run_group_query(&app, org_id, query).await;
    }
    let q = query.clone();
    let page = app
        .authorized_point_read(credentials, move |tx, org_id| read_groups(tx, org_id, &store_query(&q), false))
        .await?;
    Ok(group_page_response(&app, &query, &page))
}

async fn search_groups(
    State(app): State<AppState>,
    caller: ScimCaller,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let query = ListQuery::from_search_body(&GROUP, &body, &app.config.list_limits)?;
    run_group_query(&app, caller.0.org.id, query).await
}

async fn get_group(
    State(app): State<AppState>,
    credentials: Credentials,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let projection = projection_from(&GROUP, &raw);
    let with_members = !projection.omits(&GROUP, "members");
    // Without members a group read is a point read; 100 000 members are not.
    let view = if with_members {
        let org_id = app.caller(credentials).await?.org.id;
        app.blocking(move |dir| dir.get_group(org_id, &id, with_members)).await?
    } else {
        app.authorized_point_read(credentials, move |tx, org_id| read_group(tx, org_id, &id, false)).await?
    };
    let body = group_json(&app, &view, &projection);
    Ok(with_group_headers(scim_json(StatusCode::OK, &body), &app, &view, false))
}

/// A group as a write left it, read after the write's COMMIT and off the
/// write thread: its members may be many. Without them it is a point read.
async fn read_back_group(app: &AppState, org_id: i64, id: String, with_members: bool) -> Result<GroupView, ApiError> {
    let read = move |dir: &directory::Directory| dir.get_group(org_id, &id, with_members);
    if with_members {
        app.blocking(read).await
    } else {
        app.point_read(read).await
    }
}

async fn create_group(
    State(app): State<AppState>,
    caller: ScimCaller,
    RawQuery(raw): RawQuery,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let actor = caller.0;
    let projection = projection_from(&GROUP, &raw);
    let with_members = !projection.omits(&GROUP, "members");
    let org_id = actor.org.id;
    let group = app.write(move |dir| dir.create_group(&actor, &body)).await?;
    let view = read_back_group(&app, org_id, group.id, with_members).await?;
    let json = group_json(&app, &view, &projection);
    Ok(with_group_headers(scim_json(StatusCode::CREATED, &json), &app, &view, true))
}

async fn replace_group(
    State(app): State<AppState>,
    caller: ScimCaller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let actor = caller.0;
    let projection = projection_from(&GROUP, &raw);
    let with_members = !projection.omits(&GROUP, "members");
    let org_id = actor.org.id;
    let written = app.write(move |dir| dir.replace_group(&actor, &id, &body)).await?;
    let view = read_back_group(&app, org_id, written.group.id, with_members).await?;
    let json = group_json(&app, &view, &projection);
    Ok(with_group_headers(scim_json(StatusCode::OK, &json), &app, &view, false))
}

/// Group PATCH answers 204 (wire spec §3: a body listing every member is not
/// advisable), or 200 with the group when the client names attributes.
async fn patch_group(
    State(app): State<AppState>,
    caller: ScimCaller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let patch = patch_request(body)?;
    let actor = caller.0;
    let org_id = actor.org.id;
    let wants_body = asks_for_attributes(&raw);
    let projection = projection_from(&GROUP, &raw);
    let with_members = !projection.omits(&GROUP, "members");
    let written = app.write(move |dir| dir.patch_group(&actor, &id, &patch)).await?;
    let view = if wants_body {
        Some(read_back_group(&app, org_id, written.group.id, with_members).await?)
    } else {
        None
    };
    match view {
        Some(view) => {
            let json = group_json(&app, &view, &projection);
            Ok(with_group_headers(scim_json(StatusCode::OK, &json), &app, &view, false))
        }
        None => Ok(no_content()),
    }
}

async fn delete_group(
    State(app): State<AppState>,
    caller: ScimCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let actor = caller.0;
    app.write(move |dir| dir.delete_group(&actor, &id)).await?;
    Ok(no_content())
}
