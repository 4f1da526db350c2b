//! CV scoring.
