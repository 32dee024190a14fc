//! What the query API did with the datagrams it received.

/// Why a datagram got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueryDrop {
    /// The source is not in `query_api.allow`.
    NotAllowed,
    /// The source is over its rate limit.
    RateLimited,
    /// Not a request: too short, or a wrong magic.
    Malformed,
    /// An extended request shorter than the reply it asks for.
    NotPadded,
    /// A compact request beyond the cap on compact replies over all sources together.
    OverGlobalCap,
}

impl QueryDrop {
    /// Why, in words for a log line.
    pub fn describe(self) -> &'static str {
        match self {
            QueryDrop::NotAllowed => "source not in query_api.allow",
            QueryDrop::RateLimited => "source over its rate limit",
            QueryDrop::Malformed => "not a query request",
            QueryDrop::NotPadded => "extended request shorter than its reply",
            QueryDrop::OverGlobalCap => "compact replies over their cap for all sources together",
        }
    }
}

/// Counts since the start, per outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct QueryCounters {
    pub answered_compact: u64,
    pub answered_extended: u64,
    pub not_allowed: u64,
    pub rate_limited: u64,
    pub malformed: u64,
    pub not_padded: u64,
    pub over_global_cap: u64,
}

impl QueryCounters {
    pub fn answered(&self) -> u64 {
        self.answered_compact.saturating_add(self.answered_extended)
    }

    /// Every datagram that got no answer.
    pub fn dropped(&self) -> u64 {
        self.not_allowed
            .saturating_add(self.rate_limited)
            .saturating_add(self.malformed)
            .saturating_add(self.not_padded)
            .saturating_add(self.over_global_cap)
    }

    pub fn count_drop(&mut self, why: QueryDrop) {
        let c = match why {
            QueryDrop::NotAllowed => &mut self.not_allowed,
            QueryDrop::RateLimited => &mut self.rate_limited,
            QueryDrop::Malformed => &mut self.malformed,
            QueryDrop::NotPadded => &mut self.not_padded,
            QueryDrop::OverGlobalCap => &mut self.over_global_cap,
        };
        *c = c.saturating_add(1);
    }
}
