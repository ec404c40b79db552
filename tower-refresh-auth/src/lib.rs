//! Refresh-token authentication as tower middleware.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

pub mod clock;
pub mod store;
