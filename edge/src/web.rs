//! The participant web client: static files from `web/`, compiled into the binary (no build
//! step), served at `/` and `/web/{file}`. With `ORIGO_WEB_DIR` set they are read from that
//! directory on every request instead (for working on the client).

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// (name, content type, embedded contents)
const FILES: &[(&str, &str, &str)] = &[
    ("index.html", "text/html; charset=utf-8", include_str!("../../web/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../web/app.js")),
    ("app.css", "text/css; charset=utf-8", include_str!("../../web/app.css")),
    ("sw.js", "text/javascript; charset=utf-8", include_str!("../../web/sw.js")),
];

/// `GET /`: the client's page (deep links: `/?room=NAME&name=NAME`; `&autojoin=1` joins
/// receive-only, the camera and microphone off until a click).
pub async fn index() -> Response {
    serve("index.html").await
}

/// `GET /web/{file}`.
pub async fn file(Path(name): Path<String>) -> Response {
    serve(&name).await
}

async fn serve(name: &str) -> Response {
    let Some((name, content_type, embedded)) = FILES.iter().find(|f| f.0 == name) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let body = match std::env::var_os("ORIGO_WEB_DIR") {
        Some(dir) => match tokio::fs::read_to_string(std::path::Path::new(&dir).join(name)).await {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(file = name, "ORIGO_WEB_DIR: {e}");
                return (StatusCode::NOT_FOUND, "no such file").into_response();
            }
        },
        None => (*embedded).to_owned(),
    };
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    // Scripts and styles only from here; media nodes and coordinators may be elsewhere.
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; connect-src 'self' http: https: ws: wss:; img-src 'self' data: blob:; media-src 'self' blob:; frame-ancestors 'none'",
        ),
    );
    res
}
