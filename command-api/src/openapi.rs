//! The OpenAPI document served at `/openapi.json`.

use anote_http::{BearerAuth, ProblemResponses};
use utoipa::OpenApi;

use anote_http::problem;

use crate::{accounts, documents, import, notes, shares};

#[derive(OpenApi)]
#[openapi(
    info(title = "Anote command API", description = "Every write to Anote. Errors are application/problem+json with a stable `code`."),
    paths(
        accounts::register, accounts::login, accounts::refresh, accounts::logout,
        accounts::change_password, accounts::delete_account,
        notes::create, notes::edit, notes::set_tags, notes::move_to_subject, notes::set_due,
        notes::clear_due, notes::pin, notes::unpin, notes::archive, notes::unarchive,
        notes::complete, notes::reopen, notes::trash, notes::restore, notes::purge,
        notes::restore_version,
        shares::create, shares::revoke,
        documents::request_upload, documents::complete, documents::remove, documents::submit,
        import::import,
    ),
    components(schemas(problem::Problem)),
    modifiers(&BearerAuth, &ProblemResponses)
)]
struct ApiDoc;

/// The OpenAPI document of the command API.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
