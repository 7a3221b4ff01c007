//! Image builder for tests (filled in below).
