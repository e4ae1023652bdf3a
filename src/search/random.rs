//! Random search: the baseline. Legal, unvisited candidates drawn uniformly
//! until the budget is spent; the pick is the highest fitness.

use rand_chacha::ChaCha8Rng;

use super::space::{Domain, SearchSpace};
use super::{SearchError, Session};

pub fn random<S: SearchSpace>(
    domain: &Domain<S>,
    session: &mut Session<S::Arch>,
    rng: &mut ChaCha8Rng,
) -> Result<(), SearchError> {
    while !session.should_stop() {
        let arch = match domain.sample(rng, |k| !session.is_visited(k)) {
            Ok(a) => a,
            // Every legal candidate has been evaluated: nothing left to do.
            Err(SearchError::Exhausted(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        if session.evaluate(&arch, 0)?.is_none() {
            break;
        }
    }
    Ok(())
}
