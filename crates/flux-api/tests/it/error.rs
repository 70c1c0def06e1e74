//! The error body of Flux v1's API.

use flux_api::{ApiError, ErrorType};

use crate::support::round_trip;

#[test]
fn the_error_body_round_trips() {
    let json =
        r#"{"type":"missing","help":"Some help\nover lines.\n","error":"API endpoint not found"}"#;
    round_trip(
        json,
        &ApiError::new(
            ErrorType::Missing,
            "API endpoint not found",
            "Some help\nover lines.\n",
        ),
    );
    // `error` is left out when empty.
    round_trip(
        r#"{"type":"user","help":"h"}"#,
        &ApiError::new(ErrorType::User, "", "h"),
    );
}

#[test]
fn types_decide_status_codes() {
    assert_eq!(ApiError::not_found("/v99/x").kind.status_code(), 404);
    assert_eq!(ApiError::user("bad").kind.status_code(), 422);
    assert_eq!(ApiError::server("boom").kind.status_code(), 500);
    assert_eq!(ErrorType::from("weird").status_code(), 500);
    assert!(ApiError::not_found("/v99/x").help.contains("/v99/x"));
    assert!(ApiError::deprecated().is_flux_error());
    assert!(!ApiError::default().is_flux_error());
}
