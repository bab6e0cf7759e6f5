//! The participant web client (`web/`, compiled in), served at `/` and `/web/{file}` with the
//! same headers as the `origo` host gives it.

use worker::{Headers, Response};

/// (path, content type, contents)
const FILES: &[(&str, &str, &str)] = &[
    ("/", "text/html; charset=utf-8", include_str!("../../../web/index.html")),
    ("/web/index.html", "text/html; charset=utf-8", include_str!("../../../web/index.html")),
    ("/web/app.js", "text/javascript; charset=utf-8", include_str!("../../../web/app.js")),
    ("/web/app.css", "text/css; charset=utf-8", include_str!("../../../web/app.css")),
    ("/web/sw.js", "text/javascript; charset=utf-8", include_str!("../../../web/sw.js")),
];

/// The policy the page runs under: scripts and styles only from here; media nodes and
/// coordinators may be elsewhere.
const CSP: &str = "default-src 'self'; connect-src 'self' http: https: ws: wss:; img-src 'self' data: blob:; media-src 'self' blob:; frame-ancestors 'none'";

/// The file at `path`, if it is one of the client's.
pub fn serve(path: &str) -> Option<worker::Result<Response>> {
    let (_, content_type, body) = FILES.iter().find(|f| f.0 == path)?;
    Some((|| {
        let headers = Headers::new();
        headers.set("content-type", content_type)?;
        headers.set("cache-control", "no-cache")?;
        headers.set("x-content-type-options", "nosniff")?;
        headers.set("referrer-policy", "no-referrer")?;
        headers.set("content-security-policy", CSP)?;
        Ok(Response::from_bytes(body.as_bytes().to_vec())?.with_headers(headers))
    })())
}
