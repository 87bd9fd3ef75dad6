//! The simulated world (see issue "A simulated world").
