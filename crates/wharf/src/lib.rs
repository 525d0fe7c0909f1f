#![doc = include_str!("../README.md")]
//!
//! # The pieces
//!
//! In the order an image flows through them:
//!
//! - [`manifest`]: parses `wharf.toml`, the Dockerfile of wharf;
//! - [`convert`]: translates a Dockerfile into a `wharf.toml`;
//! - [`build`]: turns a manifest and its build context into an OCI image;
//! - [`store`]: the local image store (an OCI image layout on disk);
//! - [`registry`]: pushes images to and pulls them from OCI registries;
//! - [`archive`]: saves images to and loads them from OCI archives;
//! - [`runtime`]: runs images, modules and components, each call in a fresh
//!   sandbox;
//! - [`serve`]: answers HTTP from an app, each request in a fresh sandbox.

/// The Rust examples of the user guide's pages on embedding and serving,
/// compiled (and run, unless marked `no_run`) with the crate's doctests so
/// that they stay true to the API.
#[cfg(all(doctest, feature = "runtime"))]
#[doc = include_str!("../../../docs/embedding.md")]
pub struct EmbeddingGuide;

#[cfg(all(doctest, feature = "serve"))]
#[doc = include_str!("../../../docs/serve.md")]
pub struct ServeGuide;

pub mod archive;
pub mod build;
pub mod convert;
pub mod digest;
pub mod guest_path;
pub mod guest_tree;
pub mod ignore;
pub mod image;
pub mod launch;
pub mod layer;
pub mod manifest;
pub mod reference;
#[cfg(feature = "registry")]
pub mod registry;
#[cfg(feature = "runtime")]
pub mod runtime;
#[cfg(feature = "serve")]
pub mod serve;
pub mod store;
pub mod units;
