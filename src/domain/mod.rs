//! Parse-don't-validate types shared by the HTTP edge, the service layer and the CLI: once a value has one
//! of these types, it is valid, and nothing downstream checks it again.

pub mod api_key;
pub mod application_source;
pub mod candidate;
pub mod company_page;
pub mod control_characters;
pub mod email;
pub mod import_credentials;
pub mod job_offer_query;
pub mod strict_uuid;
pub mod timestamp;
