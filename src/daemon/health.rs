//! What a fire's end says of the daemon's health: the fetch summary read as
//! the plain [`FireHealth`] that `/healthz` keeps.

use crate::fetch::engine::Summary;
use crate::serve::monitor::{FireHealth, Stop};

/// The health facts of a fire that ended with `s`.
pub(crate) fn of_fire(s: &Summary) -> FireHealth {
    FireHealth {
        damaged: s.damaged.as_ref().map(ToString::to_string),
        stop: s.fail_fast.as_ref().map(|f| Stop {
            code: f.code.clone(),
            message: f.message.clone(),
            fix: f.fix.clone(),
        }),
        reached_api: s.ok + s.failed.len() > 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::end::FailFast;

    #[test]
    fn a_stop_a_damage_and_an_answer_are_read_from_the_summary() {
        assert_eq!(of_fire(&Summary::default()), FireHealth::default());
        let stopped = of_fire(&Summary {
            fail_fast: Some(FailFast {
                code: "AuthFailure.SecretIdNotFound".into(),
                message: "unknown key".into(),
                fix: "check the key in use".into(),
                request_id: None,
            }),
            ..Summary::default()
        });
        let stop = stopped.stop.expect("a stop");
        assert_eq!(stop.code, "AuthFailure.SecretIdNotFound");
        assert_eq!(stop.fix, "check the key in use");
        assert!(!stopped.reached_api);
        let answered = of_fire(&Summary {
            ok: 1,
            ..Summary::default()
        });
        assert!(answered.reached_api && answered.stop.is_none());
    }
}
