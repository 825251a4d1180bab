//! The offline `plumbline audit`: manifest files → `crate::engine` → text,
//! JSON, SARIF or JUnit. No cluster access.
