//! Time-ordered ids (UUIDv7) for decisions and events.

thread_local! {
    /// Each thread's UUIDv7 clock: the crate's shared one is behind a lock that the request
    /// threads would take for every decision.
    static ID_CLOCK: uuid::ContextV7 = const { uuid::ContextV7::new() };
}

/// A new id for a time the caller has already read (a batch reads the clock once for all
/// its events). Ids made on one thread are strictly increasing; across threads they are
/// ordered to the millisecond, and the random bits keep them unique.
pub fn new_id_at(now_ms: i64) -> String {
    let seconds = now_ms.div_euclid(1000).max(0) as u64;
    let nanos = now_ms.rem_euclid(1000) as u32 * 1_000_000;
    let id = ID_CLOCK
        .with(|clock| uuid::Uuid::new_v7(uuid::Timestamp::from_unix(clock, seconds, nanos)));
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    id.hyphenated().encode_lower(&mut text).to_owned()
}

/// A new id for now.
pub fn new_id() -> String {
    new_id_at(crate::clock::now_ms())
}
