//! Accounts and sessions: register, log in, refresh, log out, change the
//! password, delete the account.

use anote_domain::user::{User, UserCommand, UserEvent};
use anote_domain::values::{DisplayName, Password, Username};
use anote_domain::{DomainError, StreamId, UserId};
use anote_store::accounts::NewSession;
use anote_store::documents::LedgerWrite;
use anote_store::event_store::shredding::{self, NoteKey};
use anote_store::event_store::{EventStore, Metadata, RecordedEvent, SideWrite, StreamHead};
use anote_store::StoreError;
use anote_tokens::{hash_refresh_token, new_refresh_token, AccessClaims};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::CommandError;
use crate::extract::LoginAddress;
use crate::pipeline::{Loaded, Pipeline, Retries, Run, Stored, Writes};
use crate::refresh_cookie::{self, OverHttps};
use crate::AppState;
use anote_http::extract::{Auth, JsonBody, RequestId};
use anote_http::Problem;
use anote_http::POSITION_HEADER;

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3–32 of `a-z 0-9 _ . -` (case-folded).
    pub username: String,
    /// 10–128 characters.
    pub password: String,
    /// 1–80 characters.
    pub display_name: String,
}

/// The account that was opened.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountReply {
    /// The account's id.
    pub id: Uuid,
    /// The folded username.
    pub username: String,
    /// The display name.
    pub display_name: String,
    /// The log position of the registration.
    pub position: String,
}

/// A login.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The username (any case).
    pub username: String,
    /// The password.
    pub password: String,
    /// `true`: the refresh token comes as the cookie `anote_refresh`
    /// (`HttpOnly; SameSite=Strict; Path=/v1/sessions/refresh`, `Secure`
    /// over HTTPS) instead of in the reply, for a web page that must not
    /// hold it. Default `false`.
    #[serde(default)]
    pub refresh_cookie: bool,
}

/// A refresh token to exchange: in the body, or, when the body has none
/// (`{}`), the cookie `anote_refresh`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh; leave it out to
    /// use the cookie.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// Tokens for a session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionReply {
    /// Send as `Authorization: Bearer <token>`.
    pub access_token: String,
    /// Exchange at `POST /v1/sessions/refresh`; works once. Absent when it
    /// went into the cookie `anote_refresh` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Always `Bearer`.
    pub token_type: String,
}

/// A password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The password now.
    pub current_password: String,
    /// The new password, 10–128 characters.
    pub new_password: String,
}

/// An account's stream: its personal fields sealed with the account's key,
/// which goes when the account is deleted.
impl Stored for User {
    type Id = UserId;

    fn stream(id: UserId) -> StreamId {
        id.stream()
    }

    async fn read_key(events: &dyn EventStore, id: UserId) -> Result<Option<NoteKey>, StoreError> {
        events.user_key(id).await
    }

    /// Erasure is not tracked for accounts: only a deleted account's fields
    /// are erased, and a deleted account takes no command.
    fn open(
        recorded: &RecordedEvent,
        key: Option<&NoteKey>,
    ) -> Result<(UserEvent, bool), StoreError> {
        Ok((shredding::decode_account(recorded, key)?, false))
    }

    fn seal(payload: &mut Value, event_id: Uuid, key: &NoteKey) -> Result<(), StoreError> {
        shredding::seal_personal(payload, event_id, key)
    }

    fn ends_key(event: &UserEvent) -> bool {
        matches!(event, UserEvent::UserDeleted)
    }
}

/// How many times an account command is decided again when a concurrent
/// command on the same account wrote first.
const ACCOUNT_RETRIES: u32 = 3;

/// One account command on its way through the pipeline.
struct AccountRun<'a> {
    command: UserCommand,
    metadata: Metadata,
    side_writes: Vec<SideWrite>,
    /// The key a registration brings.
    new_key: Option<&'a NoteKey>,
}

impl Run<User> for AccountRun<'_> {
    fn command(&self) -> UserCommand {
        self.command.clone()
    }

    fn metadata(&self) -> Metadata {
        self.metadata.clone()
    }

    fn refused(&self, _: DomainError) -> CommandError {
        CommandError::AccountNotFound
    }

    fn writes(&self, loaded: &Loaded<User>, _: &[UserEvent]) -> Writes {
        Writes {
            side_writes: self.side_writes.clone(),
            key: loaded.key.clone().or_else(|| self.new_key.cloned()),
        }
    }
}

/// Decides a user command and appends its events with the side writes,
/// deciding again (up to [`ACCOUNT_RETRIES`] times) when a concurrent
/// command on the same account wrote first, then answering with the
/// retryable `write_contention`. A registration brings the new account's
/// key (`new_key`, stored by a side write).
async fn append_user(
    app: &AppState,
    id: UserId,
    command: UserCommand,
    request_id: Uuid,
    side_writes: Vec<SideWrite>,
    new_key: Option<&NoteKey>,
) -> Result<StreamHead, CommandError> {
    let run = AccountRun {
        command,
        metadata: Metadata::for_request(Some(id), request_id),
        side_writes,
        new_key,
    };
    Pipeline::uncached(app.storage.events.clone(), Retries::Times(ACCOUNT_RETRIES))
        .run(id, &run)
        .await
}

/// Open an account.
#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", request_body = RegisterRequest,
    responses((status = 201, body = AccountReply), (status = 409, body = Problem, description = "username_taken"),
        (status = 422, body = Problem)))]
pub async fn register(
    State(app): State<AppState>,
    RequestId(request_id): RequestId,
    JsonBody(req): JsonBody<RegisterRequest>,
) -> Result<Response, CommandError> {
    let username = Username::parse(&req.username)?;
    let display_name = DisplayName::parse(&req.display_name)?;
    let password = Password::parse(&req.password)?;
    let hash = app.passwords.hash(password).await?;
    let id = UserId::new();
    let key = NoteKey::generate();
    let side_writes = vec![
        SideWrite::ClaimUsername {
            username: username.to_string(),
            user_id: id,
        },
        SideWrite::SetPasswordHash { user_id: id, hash },
        SideWrite::CreateUserKey {
            user_id: id,
            key: key.clone(),
        },
    ];
    let command = UserCommand::Register {
        username: username.clone(),
        display_name: display_name.clone(),
    };
    let appended = append_user(&app, id, command, request_id, side_writes, Some(&key)).await?;
    let position = appended.position.to_string();
    let mut response = (
        StatusCode::CREATED,
        Json(AccountReply {
            id: id.uuid(),
            username: username.into(),
            display_name: display_name.into(),
            position: position.clone(),
        }),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/v1/account"));
    if let Ok(position) = HeaderValue::from_str(&position) {
        response.headers_mut().insert(POSITION_HEADER, position);
    }
    Ok(response)
}

/// Opens a session for a user and issues its tokens.
async fn issue_session(app: &AppState, user: UserId) -> Result<SessionReply, CommandError> {
    let now = OffsetDateTime::now_utc();
    let refresh_token = new_refresh_token();
    let session = NewSession {
        id: Uuid::new_v4(),
        user_id: user,
        refresh_hash: hash_refresh_token(&refresh_token),
        created_at: now,
        expires_at: now + app.auth.refresh_ttl,
    };
    app.storage.accounts.create_session(&session).await?;
    Ok(session_reply(app, user, session.id, refresh_token, now))
}

fn session_reply(
    app: &AppState,
    user: UserId,
    session: Uuid,
    refresh_token: String,
    now: OffsetDateTime,
) -> SessionReply {
    let ttl = app.auth.access_ttl;
    let claims = AccessClaims {
        sub: user,
        sid: session,
        exp: (now + ttl).unix_timestamp(),
    };
    SessionReply {
        access_token: app.signer.sign(&claims),
        refresh_token: Some(refresh_token),
        expires_in: ttl.as_secs(),
        token_type: "Bearer".to_owned(),
    }
}

/// The reply with a session's tokens: the refresh token in the body, or
/// with `cookie` in the cookie `anote_refresh` alone.
fn tokens_reply(
    app: &AppState,
    mut reply: SessionReply,
    cookie: Option<OverHttps>,
) -> Result<Response, CommandError> {
    let Some(https) = cookie else {
        return Ok(Json(reply).into_response());
    };
    let token = reply.refresh_token.take().unwrap_or_default();
    let set = refresh_cookie::set(&token, app.auth.refresh_ttl, https)?;
    let mut response = Json(reply).into_response();
    response.headers_mut().insert(header::SET_COOKIE, set);
    Ok(response)
}

/// A reply that makes the browser forget the refresh-token cookie.
fn clearing_cookie(mut response: Response, https: OverHttps) -> Result<Response, CommandError> {
    response
        .headers_mut()
        .insert(header::SET_COOKIE, refresh_cookie::clear(https)?);
    Ok(response)
}

/// Log in.
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", request_body = LoginRequest,
    responses((status = 200, body = SessionReply,
            description = "The tokens; with `refresh_cookie: true` the refresh token is in the cookie, not the body",
            headers(("Set-Cookie" = String, description = "With `refresh_cookie: true`: `anote_refresh=<refresh token>; Max-Age=<ANOTE_REFRESH_TOKEN_TTL_SECS>; Path=/v1/sessions/refresh; HttpOnly; SameSite=Strict`, and `; Secure` when the request came over HTTPS"))),
        (status = 401, body = Problem, description = "invalid_credentials, for an unknown user and a wrong password alike"),
        (status = 429, body = Problem, description = "too_many_login_attempts, with Retry-After")))]
pub async fn login(
    State(app): State<AppState>,
    LoginAddress(address): LoginAddress,
    https: OverHttps,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Response, CommandError> {
    let username = req.username.trim().to_lowercase();
    let attempt = app.limiter.begin_login(&username, &address).await?;
    let checked = check_password(&app, &username, &req.password).await;
    app.limiter
        .settle(attempt, matches!(checked, Ok(None)))
        .await?;
    let user = checked?.ok_or(CommandError::InvalidCredentials)?;
    let reply = issue_session(&app, user).await?;
    tokens_reply(&app, reply, req.refresh_cookie.then_some(https))
}

/// The account whose password this is, if the username names one and the
/// password is right (an unknown username costs the same hash check).
async fn check_password(
    app: &AppState,
    username: &str,
    password: &str,
) -> Result<Option<UserId>, CommandError> {
    let credentials = match Username::parse(username) {
        Ok(name) => {
            app.storage
                .accounts
                .credentials_by_username(name.as_str())
                .await?
        }
        Err(_) => None,
    };
    let user = credentials.as_ref().map(|c| c.user_id);
    let hash = credentials.map(|c| c.password_hash);
    Ok(app
        .passwords
        .verify(password, hash)
        .await?
        .then_some(user)
        .flatten())
}

/// When the last access token issued until now expires (with a minute's
/// margin for a refresh racing the revocation): how long a revocation must
/// be kept.
fn tokens_until(app: &AppState) -> OffsetDateTime {
    OffsetDateTime::now_utc() + app.auth.access_ttl + std::time::Duration::from_secs(60)
}

/// Exchange a refresh token for new tokens (the old refresh token stops
/// working). A token in the body is answered in the body; without one
/// (`{}`), the cookie's token is used and the next one is set as the cookie.
#[utoipa::path(post, path = "/v1/sessions/refresh", tag = "sessions", request_body = RefreshRequest,
    params(("anote_refresh" = Option<String>, Cookie,
        description = "The refresh token, set by a login with `refresh_cookie: true` or a refresh through the cookie; used when the body has no `refresh_token`")),
    responses((status = 200, body = SessionReply,
            description = "The tokens; the refresh token in the body when it came in the body, else in the cookie",
            headers(("Set-Cookie" = String, description = "When the cookie was used: the next refresh token, as the login sets it"))),
        (status = 401, body = Problem, description = "invalid_refresh_token: no token, or one that is unknown, used, expired or revoked")))]
pub async fn refresh(
    State(app): State<AppState>,
    https: OverHttps,
    headers: HeaderMap,
    JsonBody(req): JsonBody<RefreshRequest>,
) -> Result<Response, CommandError> {
    let (token, cookie) = match req.refresh_token {
        Some(token) => (token, None),
        None => (
            refresh_cookie::read(&headers).ok_or(CommandError::InvalidRefreshToken)?,
            Some(https),
        ),
    };
    let now = OffsetDateTime::now_utc();
    let next = new_refresh_token();
    let owner = app
        .storage
        .accounts
        .rotate_refresh(
            &hash_refresh_token(&token),
            &hash_refresh_token(&next),
            now,
            now + app.auth.refresh_ttl,
        )
        .await?
        .ok_or(CommandError::InvalidRefreshToken)?;
    let reply = session_reply(&app, owner.user_id, owner.session_id, next, now);
    tokens_reply(&app, reply, cookie)
}

/// Log out: revoke this session's refresh token.
#[utoipa::path(delete, path = "/v1/sessions", tag = "sessions",
    responses((status = 204, headers(("Set-Cookie" = String, description = "Clears the cookie `anote_refresh` (`Max-Age=0`)"))),
        (status = 401, body = Problem)), security(("bearer" = [])))]
pub async fn logout(
    State(app): State<AppState>,
    auth: Auth,
    https: OverHttps,
) -> Result<Response, CommandError> {
    app.storage
        .accounts
        .revoke_session(
            auth.user,
            auth.session,
            OffsetDateTime::now_utc(),
            tokens_until(&app),
        )
        .await?;
    app.revocations.reload_account(auth.user).await?;
    clearing_cookie(StatusCode::NO_CONTENT.into_response(), https)
}

/// Change the password; every other session is revoked.
#[utoipa::path(put, path = "/v1/account/password", tag = "accounts", request_body = ChangePasswordRequest,
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem, description = "wrong_password"),
        (status = 404, body = Problem, description = "account_not_found: the account was deleted"),
        (status = 422, body = Problem), (status = 429, body = Problem, description = "too_many_login_attempts, with Retry-After")),
    security(("bearer" = [])))]
pub async fn change_password(
    State(app): State<AppState>,
    auth: Auth,
    LoginAddress(address): LoginAddress,
    RequestId(request_id): RequestId,
    JsonBody(req): JsonBody<ChangePasswordRequest>,
) -> Result<StatusCode, CommandError> {
    let new_password = Password::parse(&req.new_password)?;
    let current = app
        .storage
        .accounts
        .credentials_by_user(auth.user)
        .await?
        .ok_or(CommandError::AccountNotFound)?;
    let attempt = app
        .limiter
        .begin_password_check(auth.user, &address)
        .await?;
    let verified = app
        .passwords
        .verify(&req.current_password, Some(current.password_hash))
        .await;
    app.limiter
        .settle(attempt, matches!(verified, Ok(false)))
        .await?;
    if !verified? {
        return Err(CommandError::WrongPassword);
    }
    let hash = app.passwords.hash(new_password).await?;
    let side_writes = vec![
        SideWrite::SetPasswordHash {
            user_id: auth.user,
            hash,
        },
        SideWrite::RevokeSessions {
            user_id: auth.user,
            except: Some(auth.session),
            tokens_until: tokens_until(&app),
        },
    ];
    append_user(
        &app,
        auth.user,
        UserCommand::ChangePassword,
        request_id,
        side_writes,
        None,
    )
    .await?;
    app.revocations.reload_account(auth.user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete the account: its username is freed, its password forgotten,
/// every session and access token revoked, its username and display name
/// erased from the log (its key destroyed), and the content of its notes
/// and documents erased (their keys destroyed; the read models keep
/// tombstones).
#[utoipa::path(delete, path = "/v1/account", tag = "accounts",
    responses((status = 204, headers(("Set-Cookie" = String, description = "Clears the cookie `anote_refresh` (`Max-Age=0`)"))),
        (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn delete_account(
    State(app): State<AppState>,
    auth: Auth,
    https: OverHttps,
    RequestId(request_id): RequestId,
) -> Result<Response, CommandError> {
    let side_writes = vec![
        SideWrite::ReleaseUsername { user_id: auth.user },
        SideWrite::DeleteCredentials { user_id: auth.user },
        SideWrite::RevokeSessions {
            user_id: auth.user,
            except: None,
            tokens_until: tokens_until(&app),
        },
        SideWrite::RevokeAccountTokens {
            user_id: auth.user,
            until: tokens_until(&app),
        },
        SideWrite::DestroyUserKey { user_id: auth.user },
        // Real deletion: the content of every note of the account becomes
        // unreadable, and its documents go at the next sweeps.
        SideWrite::DestroyOwnerKeys { owner: auth.user },
        SideWrite::Ledger(LedgerWrite::ReleaseOwner { owner: auth.user }),
    ];
    let appended = append_user(
        &app,
        auth.user,
        UserCommand::Delete,
        request_id,
        side_writes,
        None,
    )
    .await?;
    app.revocations.reload_account(auth.user).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(position) = HeaderValue::from_str(&appended.position.to_string()) {
        response.headers_mut().insert(POSITION_HEADER, position);
    }
    clearing_cookie(response, https)
}
