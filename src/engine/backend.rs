//! Backend choice: wgpu on a hardware adapter, else burn-flex on the CPU.

use burn::tensor::{Device, DeviceKind};
use serde::{Deserialize, Serialize};

/// The compute backend a probe runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn-wgpu (Vulkan, Metal, DX12; lavapipe on machines without a GPU).
    Wgpu,
    /// burn-flex, burn's pure-Rust CPU backend.
    Cpu,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Wgpu => "wgpu",
            BackendKind::Cpu => "cpu",
        }
    }

    /// A fresh autodiff-enabled device of this backend.
    pub fn device(self) -> Device {
        match self {
            BackendKind::Wgpu => Device::wgpu(DeviceKind::DefaultDevice).autodiff(),
            BackendKind::Cpu => Device::flex().autodiff(),
        }
    }
}

/// A device and the backend it belongs to (the probe picks code paths by it).
#[derive(Clone, Debug)]
pub struct Backend {
    pub kind: BackendKind,
    pub device: Device,
}

impl Backend {
    pub fn new(kind: BackendKind) -> Backend {
        Backend {
            kind,
            device: kind.device(),
        }
    }
}

/// The backend to use and why, so the CLI and the UI can say which was chosen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendChoice {
    pub kind: BackendKind,
    pub reason: String,
}

/// Honours an explicit request; otherwise picks wgpu only on a hardware
/// adapter. Software adapters (lavapipe, llvmpipe) are slower than burn-flex
/// and spend ~40 s compiling kernels on first use, so they default to cpu.
pub fn choose_backend(requested: Option<BackendKind>) -> BackendChoice {
    if let Some(kind) = requested {
        return BackendChoice {
            kind,
            reason: "requested".to_string(),
        };
    }
    match hardware_adapter() {
        Some(name) => BackendChoice {
            kind: BackendKind::Wgpu,
            reason: format!("hardware adapter {name}"),
        },
        None => BackendChoice {
            kind: BackendKind::Cpu,
            reason: "no hardware GPU adapter (software adapters are slower than the CPU backend)".to_string(),
        },
    }
}

/// Every wgpu adapter on this machine: (description, is it software).
pub fn wgpu_adapters() -> Vec<(String, bool)> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    adapters
        .into_iter()
        .map(|a| a.get_info())
        .map(|info| {
            (
                format!("{} ({:?})", info.name, info.backend),
                info.device_type == wgpu::DeviceType::Cpu,
            )
        })
        .collect()
}

/// Name of the first non-CPU wgpu adapter, if any.
fn hardware_adapter() -> Option<String> {
    wgpu_adapters()
        .into_iter()
        .find(|(_, software)| !software)
        .map(|(name, _)| name)
}
