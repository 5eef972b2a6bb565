//! The event's hot codecs, one at a time: the JSON reader (request bodies), the JSON writer
//! (answers, exports) and the binary record format (the decision log), over simulated
//! marketplace traffic. Each figure is the best of `ROUNDS` passes over every event, in
//! nanoseconds per event. Run with `cargo bench -p shopguard-storage --bench event_codec`;
//! `EVENT_CODEC_ROUNDS` changes the number of passes.

use std::hint::black_box;
use std::time::Instant;

use shopguard_core::decision::Outcome;
use shopguard_core::json::{read_event_input, write_event_json};
use shopguard_core::{Decision, Event};
use shopguard_sim::{generate, SimConfig};
use shopguard_storage::record_format::{decode_record, encode_record};

fn main() {
    let rounds: usize = std::env::var("EVENT_CODEC_ROUNDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(7);
    let events: Vec<Event> = generate(&SimConfig {
        users: 2_000,
        days: 5,
        ..SimConfig::default()
    })
    .into_iter()
    .enumerate()
    .map(|(position, labelled)| {
        let at = labelled.event.occurred_at_ms.unwrap_or(0);
        Event::try_from_input(labelled.event, at, || format!("e{position}")).unwrap()
    })
    .collect();
    // Request bodies as clients send them: the events' own JSON, with the input's field names.
    let bodies: Vec<String> = events
        .iter()
        .map(|event| {
            let mut value = serde_json::to_value(event).unwrap();
            let object = value.as_object_mut().unwrap();
            if let Some(serde_json::Value::Array(pair)) = object.remove("location") {
                object.insert("latitude".into(), pair[0].clone());
                object.insert("longitude".into(), pair[1].clone());
            }
            value.to_string()
        })
        .collect();
    let decisions: Vec<Decision> = events
        .iter()
        .enumerate()
        .map(|(position, event)| Decision {
            decision_id: format!("01940000-0000-7000-8000-{position:012}"),
            event_id: event.event_id.clone(),
            kind: event.kind,
            user_id: event.user_id.clone(),
            outcome: Outcome::Allow,
            challenge: None,
            score: 0,
            matched: Vec::new(),
            shadow_matched: Vec::new(),
            actions: Vec::new(),
            errors: Vec::new(),
            policy_version: 1,
            occurred_at_ms: event.occurred_at_ms,
        })
        .collect();
    let records: Vec<Vec<u8>> = events
        .iter()
        .zip(&decisions)
        .map(|(event, decision)| {
            let mut bytes = Vec::new();
            encode_record(&mut bytes, decision, event).unwrap();
            bytes
        })
        .collect();

    let count = events.len();
    let best = |work: &mut dyn FnMut()| {
        (0..rounds)
            .map(|_| {
                let started = Instant::now();
                work();
                started.elapsed().as_nanos() as f64 / count as f64
            })
            .fold(f64::INFINITY, f64::min)
    };
    let read = best(&mut || {
        for body in &bodies {
            black_box(read_event_input(black_box(body), 0).unwrap());
        }
    });
    let mut out = Vec::with_capacity(4096);
    let write = best(&mut || {
        for event in &events {
            out.clear();
            write_event_json(black_box(event), &mut out).unwrap();
            black_box(&out);
        }
    });
    let encode = best(&mut || {
        for (event, decision) in events.iter().zip(&decisions) {
            out.clear();
            encode_record(&mut out, black_box(decision), black_box(event)).unwrap();
            black_box(&out);
        }
    });
    let decode = best(&mut || {
        for bytes in &records {
            black_box(decode_record(black_box(bytes)).unwrap());
        }
    });
    println!(
        "event codecs, {count} simulated events, best of {rounds}: read JSON {read:.0} ns, write JSON {write:.0} ns, encode record {encode:.0} ns, decode record {decode:.0} ns (per event)"
    );
}
