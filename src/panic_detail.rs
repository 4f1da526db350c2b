//! The message of a caught panic, for the places that catch one (a handler, a parser page, an extraction job).

use std::any::Any;

/// The panic's message when it was a string (as `panic!` and `expect` make it), else empty.
pub(crate) fn panic_detail(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}
