//! The NB201 network against NAS-Bench-Suite-Zero's parameter and FLOP
//! counts, and the per-sample gradient paths against each other.

use lswag_studio::archive::read_suite_zero;
use lswag_studio::engine::backend::{Backend, BackendKind};
use lswag_studio::engine::data::gaussian_batch;
use lswag_studio::engine::params::InitScheme;
use lswag_studio::engine::probe::{GradPath, Needs, ProbeSettings, probe};
use lswag_studio::space::nb201::{Nb201Arch, Nb201Config, Nb201Net};
use lswag_studio::testdata::shared_data_dir;

#[test]
fn parameter_counts_match_suite_zero_for_all_cells_of_the_three_tasks() {
    let Some(dir) = shared_data_dir() else { return };
    let archive = read_suite_zero(&dir.join("suite_zero/zc_nasbench201.json")).unwrap();
    // Each task's head; ImageNet16-120's 16 x 16 input changes no parameter.
    for (task_name, num_classes, image_size, cells) in [
        ("cifar10", 10, 32, 725),
        ("cifar100", 100, 32, 725),
        ("ImageNet16-120", 120, 16, 724),
    ] {
        let task = archive.task(task_name).unwrap();
        let params = task.proxy("params").unwrap();
        let config = Nb201Config {
            num_classes,
            image_size,
            ..Nb201Config::default()
        };
        let mut checked = 0;
        for (row, key) in archive.keys().iter().enumerate() {
            if !task.is_member(row) {
                continue;
            }
            let arch: Nb201Arch = key.parse().unwrap();
            let (net, store) = Nb201Net::new(arch, config);
            // Suite-Zero counts every parameter (convs, BN affine, classifier
            // with bias) in millions, printed to 6 decimals.
            let ours = store.num_params() as f64 / 1e6;
            assert!(
                (ours - params[row]).abs() < 5e-7,
                "{task_name} {key}: {ours} vs {}",
                params[row]
            );
            assert_eq!(net.input_chw(), [3, image_size, image_size]);
            checked += 1;
        }
        assert_eq!(checked, cells, "{task_name}");
    }
}

#[test]
fn naive_and_batched_per_sample_gradients_agree_on_several_cells() {
    let batch = gaussian_batch(8, [3, 32, 32], 10, 4);
    let backend = Backend::new(BackendKind::Cpu);
    let config = Nb201Config {
        channels: 4,
        cells_per_stage: 1,
        num_classes: 10,
        image_size: 32,
    };
    for (i, s) in [
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
        "|none~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|",
        "|avg_pool_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|",
    ]
    .iter()
    .enumerate()
    {
        let (net, mut params) = Nb201Net::new(s.parse().unwrap(), config);
        params.init(InitScheme::KaimingNormal, i as u64);
        let needs = Needs {
            sigma: true,
            ..Needs::default()
        };
        let mut settings = ProbeSettings::default();
        let batched = probe(&net, &params, &batch, &backend, &settings, needs).sigma.unwrap();
        settings.grad_path = GradPath::Naive;
        let naive = probe(&net, &params, &batch, &backend, &settings, needs).sigma.unwrap();
        assert_eq!(batched.len(), naive.len());
        let mut dead = 0;
        for (l, (a, b)) in batched.iter().zip(&naive).enumerate() {
            match (a.lambda, b.lambda) {
                (Some(x), Some(y)) => assert!((x - y).abs() <= 1e-4 * y.abs(), "{s} layer {l}: {x} vs {y}"),
                (None, None) => dead += 1,
                other => panic!("{s} layer {l}: dead in one path only: {other:?}"),
            }
        }
        // The second cell's node 1 is fed by `none` only: its 1x1 conv on
        // node 1 is dead in every one of the three cells.
        if i == 1 {
            assert_eq!(dead, 3, "{s}");
        }
    }
}
