//! What the OpenAPI documents of the APIs share: the bearer scheme, and the
//! error replies that the shared extractors and layers give every route
//! that uses them, so no operation's document forgets one.

use std::collections::BTreeMap;

use utoipa::openapi::path::{Operation, Parameter, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Required};

/// The media type of every error reply.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Adds the bearer-token security scheme that the APIs' routes refer to.
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Documents the error replies every operation can get from what it uses:
/// 401 with a bearer token, 400/408/413/415/422 with a JSON body, 400 with query
/// parameters or the `If-Match`, `Idempotency-Key` and `Anote-Min-Position`
/// headers (412 and 428 with `If-Match`, 503 with `Anote-Min-Position`), 404
/// with a path parameter, and 503 (shed or timed out) everywhere; and
/// declares every reply whose body is a `Problem` as
/// `application/problem+json`, the media type it is sent with.
pub struct ProblemResponses;

impl utoipa::Modify for ProblemResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                add_errors(operation);
                for parameter in operation.parameters.iter_mut().flatten() {
                    describe_header(parameter);
                }
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        as_problem_json(response);
                    }
                }
            }
        }
    }
}

/// The codes of each error status this operation can answer with.
fn errors_of(operation: &Operation) -> BTreeMap<u16, Vec<&'static str>> {
    let mut errors: BTreeMap<u16, Vec<&'static str>> = BTreeMap::new();
    let mut add = |status: u16, code: &'static str| errors.entry(status).or_default().push(code);
    if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
        add(401, "unauthorized");
    }
    if operation.request_body.as_ref().is_some_and(is_json) {
        add(400, "malformed_json");
        add(408, "body_timeout");
        add(413, "payload_too_large");
        add(415, "unsupported_media_type");
        add(422, "invalid_body");
    }
    for parameter in operation.parameters.iter().flatten() {
        let name = parameter.name.to_ascii_lowercase();
        match (&parameter.parameter_in, name.as_str()) {
            (ParameterIn::Query, _) => add(400, "invalid_query"),
            (ParameterIn::Path, _) => add(404, "not found"),
            (ParameterIn::Header, "if-match") => {
                add(400, "invalid_if_match");
                add(412, "version_mismatch");
                if matches!(parameter.required, Required::True) {
                    add(428, "precondition_required");
                }
            }
            (ParameterIn::Header, "idempotency-key") => {
                add(400, "invalid_idempotency_key");
                add(409, "idempotency_key_in_use");
                add(422, "idempotency_key_reused");
            }
            (ParameterIn::Header, "anote-min-position") => {
                add(400, "invalid_min_position");
                add(400, "unreachable_min_position");
                add(503, "projection_behind");
            }
            _ => {}
        }
    }
    add(503, "overloaded");
    add(503, "request_timeout");
    add(503, "store_unavailable");
    for codes in errors.values_mut() {
        codes.dedup();
    }
    errors
}

/// The form of a header that the shared extractors read.
fn header_pattern(name: &str) -> Option<&'static str> {
    match name {
        // A version, quoted as the `ETag` gives it, or bare.
        "if-match" => Some(r#"^("[0-9]{1,19}"|[0-9]{1,19})$"#),
        "idempotency-key" => Some("^[!-~]{1,200}$"),
        // A position as a command reply gives it.
        "anote-min-position" => Some("^[0-9]{1,19}-[0-9]{1,19}$"),
        _ => None,
    }
}

/// Gives a header that the shared extractors read the form they accept.
fn describe_header(parameter: &mut Parameter) {
    if !matches!(parameter.parameter_in, ParameterIn::Header) {
        return;
    }
    if let Some(pattern) = header_pattern(&parameter.name.to_ascii_lowercase()) {
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(pattern))
            .build();
        parameter.schema = Some(RefOr::T(Schema::Object(schema)));
    }
}

/// Adds each error status the operation does not document yet.
fn add_errors(operation: &mut Operation) {
    for (status, codes) in errors_of(operation) {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(problem_response(&codes.join(", "))));
    }
}

fn is_json(body: &RequestBody) -> bool {
    body.content.contains_key("application/json")
}

/// A reply with a `Problem` body.
fn problem_response(description: &str) -> Response {
    let mut response = Response::new(description);
    response.content.insert(
        PROBLEM_JSON.to_owned(),
        Content::new(Some(Ref::from_schema_name("Problem"))),
    );
    response
}

/// Moves a `Problem` body declared as `application/json` to
/// `application/problem+json`.
fn as_problem_json(response: &mut Response) {
    let is_problem = |content: &Content| matches!(&content.schema, Some(RefOr::Ref(r)) if r.ref_location == "#/components/schemas/Problem");
    if let Some(content) = response.content.get("application/json") {
        if is_problem(content) {
            if let Some(content) = response.content.shift_remove("application/json") {
                response.content.insert(PROBLEM_JSON.to_owned(), content);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::path::{OperationBuilder, ParameterBuilder};
    use utoipa::openapi::security::SecurityRequirement;

    #[test]
    fn a_secured_operation_with_a_query_documents_401_400_and_503() {
        let mut operation = OperationBuilder::new()
            .parameter(
                ParameterBuilder::new()
                    .name("limit")
                    .parameter_in(ParameterIn::Query),
            )
            .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
            .build();
        add_errors(&mut operation);
        let statuses: Vec<&str> = operation
            .responses
            .responses
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(statuses, ["400", "401", "503"]);
    }

    #[test]
    fn a_problem_declared_as_json_becomes_problem_json() {
        let mut response = Response::new("x");
        response.content.insert(
            "application/json".to_owned(),
            Content::new(Some(Ref::from_schema_name("Problem"))),
        );
        as_problem_json(&mut response);
        assert!(response.content.contains_key(PROBLEM_JSON));
        assert!(!response.content.contains_key("application/json"));
    }
}
