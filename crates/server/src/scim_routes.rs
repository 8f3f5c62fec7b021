//! The SCIM 2.0 endpoints under `/scim/v2`.

use crate::auth::ScimCaller;
use crate::body::ScimJson;
use crate::error::{method_not_allowed, scim_json, ApiError};
use crate::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use directory::store::UserQuery;
use directory::users::render_user;
use directory::UserRecord;
use scim::list::{list_response, ListQuery};
use scim::patch::PatchRequest;
use scim::projection::Projection;
use scim::schema::{self, ResourceType, USER};
use scim::ScimError;
use serde_json::Value;

/// The resource types this server serves and announces.
const SERVED: &[&ResourceType] = &[&USER];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{id}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(schema_by_id))
        // Root search (RFC 7644 §3.4.3): Users are the only searchable resource so far.
        .route("/.search", post(search_users))
        .route("/Users", get(list_users).post(create_user))
        .route("/Users/.search", post(search_users))
        .route("/Users/{id}", get(get_user).put(replace_user).patch(patch_user).delete(delete_user))
        .route("/Groups", get(list_groups).post(groups_not_available))
        .route("/Groups/{id}", get(groups_not_available).put(groups_not_available).patch(groups_not_available))
        .method_not_allowed_fallback(method_not_allowed)
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

/// A user rendered with the request's projection.
fn user_json(app: &AppState, user: &UserRecord, projection: &Projection) -> Value {
    let full = render_user(user, &app.config.scim_base());
    if projection.is_default() {
        full
    } else {
        projection.apply(&USER, &full)
    }
}

fn with_user_headers(mut resp: Response, app: &AppState, user: &UserRecord, created: bool) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("W/\"{}\"", user.version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    if created {
        if let Ok(v) = HeaderValue::from_str(&format!("{}/Users/{}", app.config.scim_base(), user.id)) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
    }
    resp
}

async fn run_user_query(app: &AppState, caller: &ScimCaller, query: ListQuery) -> Result<Response, ApiError> {
    let org_id = caller.0.org.id;
    let q = query.clone();
    let (total, users) = app
        .blocking(move |dir| {
            let uq = UserQuery {
                filter: q.filter.as_ref(),
                sort_by: q.sort_by.as_ref(),
                sort_order: q.sort_order,
                start_index: q.start_index,
                count: q.count,
            };
            dir.list_users(org_id, &uq)
        })
        .await?;
    let resources = users.iter().map(|u| user_json(app, u, &query.projection)).collect();
    Ok(scim_json(StatusCode::OK, &list_response(total, query.start_index, resources)))
}

async fn list_users(State(app): State<AppState>, caller: ScimCaller, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let pairs = query_pairs(&raw);
    let query = ListQuery::from_pairs(&USER, pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), &app.config.list_limits)?;
    run_user_query(&app, &caller, query).await
}

async fn search_users(State(app): State<AppState>, caller: ScimCaller, ScimJson(body): ScimJson) -> Result<Response, ApiError> {
    let query = ListQuery::from_search_body(&USER, &body, &app.config.list_limits)?;
    run_user_query(&app, &caller, query).await
}

async fn get_user(
    State(app): State<AppState>,
    caller: ScimCaller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let org_id = caller.0.org.id;
    let user = app.blocking(move |dir| dir.get_user(org_id, &id)).await?;
    let body = user_json(&app, &user, &projection_from(&USER, &raw));
    Ok(with_user_headers(scim_json(StatusCode::OK, &body), &app, &user, false))
}

async fn create_user(
    State(app): State<AppState>,
    caller: ScimCaller,
    RawQuery(raw): RawQuery,
    ScimJson(body): ScimJson,
) -> Result<Response, ApiError> {
    let actor = caller.0;
    let user = app.blocking(move |dir| dir.create_user(&actor, &body)).await?;
    let json = user_json(&app, &user, &projection_from(&USER, &raw));
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
    let written = app.blocking(move |dir| dir.replace_user(&actor, &id, &body)).await?;
    let json = user_json(&app, &written.user, &projection_from(&USER, &raw));
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
    let written = app.blocking(move |dir| dir.patch_user(&actor, &id, &patch)).await?;
    let json = user_json(&app, &written.user, &projection_from(&USER, &raw));
    Ok(with_user_headers(scim_json(StatusCode::OK, &json), &app, &written.user, false))
}

async fn delete_user(State(app): State<AppState>, caller: ScimCaller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let actor = caller.0;
    app.blocking(move |dir| dir.delete_user(&actor, &id)).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(crate::error::SCIM_JSON));
    Ok(resp)
}

/// Groups are not provisioned yet: a lookup finds none (so Entra's Test
/// Connection group probe succeeds), and writes say what to do instead.
async fn list_groups(State(app): State<AppState>, _caller: ScimCaller, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let pairs = query_pairs(&raw);
    let query = ListQuery::from_pairs(
        &schema::GROUP,
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &app.config.list_limits,
    )?;
    Ok(scim_json(StatusCode::OK, &list_response(0, query.start_index, vec![])))
}

async fn groups_not_available(_caller: ScimCaller) -> ApiError {
    ApiError(ScimError::status(
        501,
        "Group provisioning is not available in this version of Roster. In Entra ID, set Mappings → \"Provision \
         Microsoft Entra ID Groups\" to No for now.",
    ))
}
