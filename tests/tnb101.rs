//! TransNAS-Bench-101: the parameter count computed from the encoding equals Suite-Zero's
//! `params` (millions, from the benchmark's own model builder) for every cell of all 14
//! space/task files, and keys round-trip and are validated.

use lswag_studio::space::tnb101::{MacroArch, MicroArch, Task};

fn suite_zero(name: &str) -> serde_json::Value {
    let path = std::env::var("LSWAG_SUITE_ZERO_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/suite_zero").into());
    let file = format!("{path}/zc_transbench101_{name}.json");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn check_file(name: &str, params: impl Fn(&str, Task) -> (String, u64)) {
    let data = suite_zero(name);
    let tasks = data.as_object().expect("an object of tasks");
    assert_eq!(tasks.len(), 7, "{name}: seven tasks");
    let mut checked = 0;
    for (task, cells) in tasks {
        let t = Task::parse(task).unwrap();
        for (key, rec) in cells.as_object().expect("an object of cells") {
            let want = rec["params"]["score"].as_f64().expect("params.score");
            let (canon, got) = params(key, t);
            assert_eq!(&canon, key, "{name}/{task}: key round-trip");
            // The files store millions with six decimals.
            assert!(
                (got as f64 / 1e6 - want).abs() < 5e-7,
                "{name}/{task} {key}: {got} vs {want}M"
            );
            checked += 1;
        }
    }
    assert!(checked > 4500, "{name}: only {checked} cells");
}

#[test]
fn micro_params_match_suite_zero_every_task() {
    check_file("micro", |k, t| {
        let a = MicroArch::parse(k).unwrap();
        (a.key(), a.params(t))
    });
}

#[test]
fn macro_params_match_suite_zero_every_task() {
    check_file("macro", |k, t| {
        let a = MacroArch::parse(k).unwrap();
        (a.key(), a.params(t))
    });
}

#[test]
fn hand_counted_micro_class_object() {
    // (1, 0, 0, 2, 1, 0) on class_object: 929,668 in Suite-Zero (0.929668 M); the head alone is
    // Linear(512, 100) = 51,300, the difference to class_scene's Linear(512, 63) is 37 * 513.
    let a = MicroArch::parse("(1, 0, 0, 2, 1, 0)").unwrap();
    assert_eq!(a.params(Task::ClassObject), 929_668);
    assert_eq!(a.params(Task::ClassObject) - a.params(Task::ClassScene), 37 * 513);
    assert_eq!(a.arch_str(), "64-41414-1_00_210");
}

#[test]
fn invalid_keys_name_the_problem() {
    let e = MicroArch::parse("(1, 0, 0, 2, 1)").unwrap_err();
    assert!(e.contains("(1, 0, 0, 2, 1)") && e.contains("5 ops"), "{e}");
    let e = MicroArch::parse("(1, 0, 0, 2, 1, 7)").unwrap_err();
    assert!(e.contains("op 7") && e.contains("position 5"), "{e}");
    let e = MacroArch::parse("(1, 1, 1, 0, 0, 0)").unwrap_err();
    assert!(e.contains("3 layers"), "{e}");
    let e = MacroArch::parse("(3, 3, 3, 3, 3, 0)").unwrap_err();
    assert!(e.contains("5 stride-2"), "{e}");
    let e = MacroArch::parse("(2, 2, 2, 2, 1, 3)").unwrap_err();
    assert!(e.contains("4 channel-doubling"), "{e}");
    let e = MacroArch::parse("(1, 5, 2, 3)").unwrap_err();
    assert!(e.contains("digit 5"), "{e}");
    assert_eq!(
        MacroArch::parse("(1, 2, 4, 2, 0, 0)").unwrap().arch_str(),
        "64-1242-basic"
    );
}

#[test]
fn sample_mutate_cross_stay_valid() {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for _ in 0..500 {
        let a = MacroArch::sample(&mut rng);
        let b = MacroArch::sample(&mut rng);
        for c in [a.mutate(&mut rng), a.cross(&b, &mut rng)] {
            assert!(MacroArch::new(c.0.clone()).is_ok(), "{c:?}");
        }
        assert_ne!(a.mutate(&mut rng), a);
        let m = MicroArch::sample(&mut rng);
        let mm = m.mutate(&mut rng);
        assert_eq!(m.0.iter().zip(mm.0.iter()).filter(|(x, y)| x != y).count(), 1);
    }
}
