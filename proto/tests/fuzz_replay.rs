//! Replays the fuzz target `control` (fuzz/, cargo-fuzz, nightly only) on stable over its
//! committed seed corpus, so the target's body is compiled and run in every test run. New
//! inputs found by fuzzing (crashes minimised with `cargo fuzz tmin`) go into
//! fuzz/corpus/control/ and are replayed here from then on.

#[path = "../../fuzz/src/lib.rs"]
mod fuzz_body;

#[test]
fn control_target_over_the_seed_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/control");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/control") {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        let run = std::panic::catch_unwind(|| fuzz_body::control(&data));
        assert!(run.is_ok(), "fuzz target failed on {}", path.display());
        seeds += 1;
    }
    assert!(seeds >= 5, "the seed corpus is missing ({seeds} files)");
    // The empty input and every single byte, as libFuzzer starts with.
    fuzz_body::control(b"");
    for b in 0..=255u8 {
        fuzz_body::control(&[b]);
    }
}
