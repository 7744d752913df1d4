//! The OpenAPI document served at `/openapi.json`.

use anote_http::problem::Problem;
use anote_http::{BearerAuth, ProblemResponses};
use utoipa::OpenApi;

use crate::{changes, documents, export, history, lists, notes, shares, streams};

#[derive(OpenApi)]
#[openapi(
    info(title = "Anote query API", description = "Every read of Anote, from the read models. Errors are application/problem+json with a stable `code`."),
    paths(
        notes::get_note, notes::list_notes, lists::search, lists::subjects, lists::tags,
        lists::upcoming, shares::list, shares::shared, changes::changes,
        streams::stream,
        documents::list, documents::download, documents::shared_download, documents::usage, export::export,
        history::history,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth, &ProblemResponses)
)]
struct ApiDoc;

/// The OpenAPI document of the query API.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
