//! Reading json-file logs back.
