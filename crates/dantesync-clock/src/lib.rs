//! placeholder: clock backends
