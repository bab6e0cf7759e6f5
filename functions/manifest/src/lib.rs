//! `spin.toml` (manifest version 2) as every Origo host reads it: the components, the routes
//! to them, the application variables with their defaults and the templates components use,
//! and each component's `allowed_outbound_hosts`.
//!
//! Parsing is pure (text in, [`Manifest`] out), so the crate builds for `wasm32-unknown-unknown`
//! as well as natively; only [`Manifest::load`] touches the filesystem. Hosts that embed the
//! manifest (`include_str!`) use [`Application`]: a request path to its component, each
//! component's variables with the deployment's values and the defaults, its allowed hosts.

mod allowed_hosts;
mod application;
mod manifest;
mod route_pattern;
mod route_table;
mod template;

pub use allowed_hosts::AllowedHosts;
pub use application::Application;
pub use manifest::{Component, Manifest, ManifestError, Variable};
pub use route_pattern::RoutePattern;
pub use route_table::RouteTable;
pub use template::{expand_template, template_references, valid_variable_name};
