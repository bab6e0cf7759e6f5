//! The Worker's `fetch` handler: the room WebSocket goes to the room's Durable Object, the web
//! client's files are served as they are, and every other path goes to the function
//! `spin.toml` routes it to, over a [`WorkerPlatform`] with that function's variables and
//! outbound hosts.

use origo_shared::{ApiError, ErrorCode};
use worker::{Context, Env, Request, Response, ScheduleContext, ScheduledEvent, event};

use crate::location_hint::location_hint;
use crate::{WorkerPlatform, http_bridge, room_socket, variables, web_client};

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let path = req.path();
    let hint = req.cf().and_then(|cf| {
        location_hint(cf.continent().as_deref(), cf.country().as_deref(), cf.coordinates().map(|(_, lon)| lon as f64))
    });
    if path == "/health" {
        return Response::from_json(&serde_json::json!({ "status": "ok" }));
    }
    if let Some(room) = room_socket::room_of(&path) {
        let room = room.to_owned();
        return room_socket::connect(req, env, &room, hint).await;
    }
    if req.method() == worker::Method::Get
        && let Some(file) = web_client::serve(&path)
    {
        return file;
    }
    let app = variables::application();
    let Some(component) = app.component_for_path(&path) else {
        return http_bridge::error(ApiError::not_found("no such route"));
    };
    let vars = match variables::component_variables(&env, component) {
        Ok(v) => v,
        Err(e) => {
            worker::console_error!("the deployment is incomplete: {e}");
            return http_bridge::error(ApiError::new(ErrorCode::Unavailable, "the deployment is not configured"));
        }
    };
    let allowed = variables::allowed_hosts(&env, component);
    let request = match http_bridge::to_http(&mut req).await {
        Ok(r) => r,
        Err(e) => return http_bridge::error(e),
    };
    let method = request.method().clone();
    let platform = WorkerPlatform::new(env, vars, allowed, hint);
    let response = match component {
        "auth" => origo_functions::auth::handle(request, &platform).await,
        "room" => origo_functions::room::handle(request, &platform).await,
        "chat" => origo_functions::chat::handle(request, &platform).await,
        "notify" => origo_functions::notify::handle(request, &platform).await,
        "billing" => origo_functions::billing::handle(request, &platform).await,
        other => {
            worker::console_error!("spin.toml routes to {other}, which this Worker does not have");
            return http_bridge::error(ApiError::not_found("no such route"));
        }
    };
    // The path only: queries can carry tokens.
    worker::console_log!("{method} {path} {} ({component})", response.status().as_u16());
    http_bridge::from_http(response)
}

/// The cron trigger (`[triggers] crons` in `wrangler.toml`): one pass of the sweep that
/// removes expired records, with the room function's variables.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let vars = match variables::component_variables(&env, "room") {
        Ok(vars) => vars,
        Err(e) => {
            worker::console_error!("sweep: cannot read the variables: {e}");
            return;
        }
    };
    let platform = WorkerPlatform::new(env, vars, Default::default(), None);
    match origo_functions::maintenance::run(&platform).await {
        Ok(report) => worker::console_log!("sweep: {report}"),
        Err(e) => worker::console_error!("sweep failed: {}", e.message),
    }
}
