//! The identity claim: exactly one dialog owns a channel identity at a time (F11.2).

use super::support::*;
use crate::domain::Refusal;
use crate::domain::identity::IdentityCommand as C;
use switchboard_schemas::events::*;
use switchboard_schemas::*;

const DIALOG: DialogId = DialogId::from_u128(0xD1);

fn claimed(dialog: DialogId) -> Event {
    Event::IdentityClaimed(IdentityClaimed { dialog })
}

fn released(dialog: DialogId) -> Event {
    Event::IdentityReleased(IdentityReleased { dialog })
}

#[test]
fn a_free_identity_is_claimed() {
    let mut identity = given_identity([]);
    identity
        .when(C::Claim { dialog: DIALOG })
        .then_events([claimed(DIALOG)]);
    assert_eq!(identity.identity.owner, Some(DIALOG));
}

#[test]
fn claiming_it_again_for_the_same_dialog_is_a_no_op() {
    given_identity([claimed(DIALOG)])
        .when(C::Claim { dialog: DIALOG })
        .then_nothing();
}

#[test]
fn f11_2_another_dialog_cannot_claim_it() {
    given_identity([claimed(DIALOG)])
        .when(C::Claim {
            dialog: OTHER_DIALOG,
        })
        .then_refused(Refusal::IdentityClaimed(DIALOG));
}

#[test]
fn the_owner_releases_it_and_then_another_dialog_may_claim_it() {
    let mut identity = given_identity([claimed(DIALOG)]);
    identity
        .when(C::Release { dialog: DIALOG })
        .then_events([released(DIALOG)]);
    assert_eq!(identity.identity.owner, None);
    identity.when(C::Release { dialog: DIALOG }).then_nothing();
    identity
        .when(C::Claim {
            dialog: OTHER_DIALOG,
        })
        .then_events([claimed(OTHER_DIALOG)]);
}

#[test]
fn only_the_owner_releases_it() {
    let mut identity = given_identity([claimed(DIALOG)]);
    identity
        .when(C::Release {
            dialog: OTHER_DIALOG,
        })
        .then_nothing();
    assert_eq!(identity.identity.owner, Some(DIALOG));
    // A stray release event of another dialog does not free it either.
    let identity = given_identity([claimed(DIALOG), released(OTHER_DIALOG)]);
    assert_eq!(identity.identity.owner, Some(DIALOG));
}

#[test]
fn releasing_an_unclaimed_identity_is_a_no_op() {
    given_identity([])
        .when(C::Release { dialog: DIALOG })
        .then_nothing();
}
