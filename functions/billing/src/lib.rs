//! The `billing` function: a spin-sdk HTTP component around `origo_functions::billing`.
#![cfg(target_arch = "wasm32")]
// spin-sdk's `http_component` expands to the component's unsafe export glue.
#![allow(unsafe_code)]

#[spin_sdk::http_component]
async fn handle(req: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    origo_functions_spin::serve(req, origo_functions::billing::handle).await
}
