//! Parse-don't-validate types shared by the HTTP edge, the service layer and the CLI.
