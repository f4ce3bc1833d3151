//! The model registry (`ModelRegistry` table, pk `model`) in DynamoDB: items read with a
//! consistent GetItem, written whole with PutItem conditional on the revision that was read
//! (`attribute_not_exists(model)` for a new item, `revision = :read` otherwise). A conflict —
//! another writer got there first — re-reads the item and re-applies the change, up to
//! [`MAX_ATTEMPTS`] times, so two racing promotions both end up recorded and nothing is lost.
//! The change logic itself is [`crate::registry::ops`], pure.

mod change;
mod refresh;
mod store;
mod table;

pub use change::{apply_change, ChangeError};
pub use refresh::{Refresher, S3Loader};
pub use store::{bundle_prefix, source_for, ModelStore};
pub use table::{
    read_active, ActiveModel, PutError, RegistryError, RegistryTable, Updated, MAX_ATTEMPTS,
};
