"""Hardware, price and economics catalogs: hand-checked numbers, provenance, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from gigatrain.catalog import hardware as hw
from gigatrain.errors import GigatrainError

# chip_type keys used in shared/validation (validation/README.md §1, plus "A100" from vTrain)
VALIDATION_CHIP_TYPES = {
    "A100-40GB": "a100-40gb",
    "A100-80GB": "a100-80gb",
    "A100": "a100-80gb",
    "H100-SXM-80GB": "h100-sxm",
    "H100-96GB-HBM2e": "h100-hbm2e",
    "H100-95GB-HBM2e": "h100-hbm2e",
    "H200": "h200",
    "H800": "h800",
    "B200": "b200",
    "B300": "b300",
    "GB200": "gb200",
    "GB300": "gb300",
    "TPU-v4": "tpu-v4",
    "TPU-v5e": "tpu-v5e",
    "TPU-v5p": "tpu-v5p",
    "TPU-v6e": "tpu-v6e",
    "Trainium1": "trn1",
    "Gaudi2": "gaudi2",
}

REQUIRED_CHIPS = [
    "a100-40gb",
    "a100-80gb",
    "h100-sxm",
    "h100-pcie",
    "h100-nvl",
    "h100-hbm2e",
    "h800",
    "h200",
    "b200",
    "gb200",
    "b300",
    "gb300",
    "mi250x",
    "mi300x",
    "mi325x",
    "mi355x",
    "trn1",
    "trn2",
    "trn3",
    "tpu-v4",
    "tpu-v5e",
    "tpu-v5p",
    "tpu-v6e",
    "tpu-v7",
    "gaudi2",
    "gaudi3",
]


# ---------------------------------------------------------------- hand-checked numbers
@pytest.mark.parametrize(
    ("chip", "fmt", "flops"),
    [
        ("h100-sxm", "bf16", 989e12),
        ("h100-sxm", "fp8", 1979e12),
        ("h100-sxm", "tf32", 494.5e12),
        ("a100-80gb", "bf16", 312e12),
        ("b200", "fp4", 9000e12),
        ("gb200", "bf16", 2500e12),
        ("mi300x", "bf16", 1307.4e12),
        ("trn2", "fp8", 1299e12),
        ("trn3", "bf16", 671e12),
        ("tpu-v5p", "bf16", 459e12),
        ("tpu-v5e", "bf16", 197e12),
        ("gaudi2", "bf16", 432e12),
    ],
)
def test_dense_peaks(chip: str, fmt: str, flops: float) -> None:
    assert hw.get_chip(chip).peak_flops_per_s[fmt] == pytest.approx(flops)


def test_memory_si_conversion() -> None:
    assert hw.get_chip("h100-sxm").hbm_bytes == 80e9
    assert hw.get_chip("mi300x").hbm_bytes == 192e9
    assert hw.get_chip("h200").hbm_bytes == 141e9
    assert hw.get_chip("trn2").hbm_bytes == 96 * 2**30  # AWS publishes GiB
    assert hw.get_chip("tpu-v5p").hbm_bytes == 95 * 2**30
    assert hw.get_chip("h100-sxm").hbm_bandwidth_bytes_per_s == pytest.approx(3.35e12)
    assert hw.get_chip("b200").hbm_bandwidth_bytes_per_s == pytest.approx(8.0e12)


def test_efficiencies_and_power() -> None:
    h100 = hw.get_chip("h100-sxm")
    assert h100.tdp_w == 700
    assert h100.matmul_efficiency == pytest.approx(794.5 / 989, abs=1e-3)  # MAMF / peak
    assert h100.matmul_efficiency_for("fp8") == pytest.approx(1402.6 / 1979, abs=1e-3)
    # no fp8 MAMF measured: bf16's efficiency times the H100 SXM fp8/bf16 ratio
    trn2 = hw.get_chip("trn2")
    assert trn2.matmul_efficiency_for("fp8") == pytest.approx(0.75 * 70.9 / 80.3, abs=1e-3)
    assert trn2.matmul_efficiency_for("bf16") == trn2.matmul_efficiency
    assert hw.get_chip("trn1").tdp_w is None  # unpublished stays unknown
    assert hw.get_chip("trn2").labels["tdp_w"] == "ESTIMATE"
    for chip in hw.load_chips().values():
        assert 0 < chip.matmul_efficiency <= 1 and 0 < chip.hbm_efficiency <= 1
        assert chip.peak("bf16") > 0


def test_systems_tiers_si() -> None:
    hgx = hw.get_system("hgx-h100")
    assert hgx.chip.slug == "h100-sxm" and hgx.chips_per_node == 8
    nvlink, ib, *_ = hgx.tiers  # then the campus tier (systems.yaml header)
    assert nvlink.domain_chips == 8 and nvlink.bandwidth_bytes_per_s == 450e9  # 900 bidi halved
    assert nvlink.in_network_reduction
    assert ib.bandwidth_bytes_per_s == 50e9 and ib.latency_s == pytest.approx(14e-6)
    assert hw.get_system("gb200-nvl72").tier_for_group(72).name.startswith("nvlink")
    assert hw.get_system("trn1").tiers[-1].bandwidth_bytes_per_s == 6.25e9  # 800 Gbps / 16
    assert hw.get_system("tpu-v5p").max_chips == 18432


def test_every_default_system_exists_and_matches_chip() -> None:
    systems = hw.load_systems()
    for chip in hw.load_chips().values():
        system = hw.default_system_for(chip)
        assert system.slug in systems and system.chip.slug == chip.slug
        assert hw.get_system(chip.slug) is system


def test_required_chips_present() -> None:
    assert set(REQUIRED_CHIPS) <= set(hw.load_chips())


# ---------------------------------------------------------------- provenance
def test_everything_has_source_and_as_of() -> None:
    for chip in hw.load_chips().values():
        assert chip.source and chip.as_of, chip.slug
    for system in hw.load_systems().values():
        assert system.source and system.as_of, system.slug
    for price in hw.load_prices():
        assert price.source and price.as_of and price.basis, price
    for const in hw.load_economics().values():
        assert const.source and const.as_of and const.unit, const.key


def test_prices_shape() -> None:
    prices = hw.load_prices()
    for p in prices:
        if p.kind == "purchase":
            assert p.usd and p.usd_per_chip_hour is None
        else:
            assert p.usd_per_chip_hour and p.usd is None
    h100 = [p for p in prices if p.chip == "h100-sxm" and p.kind == "on_demand"]
    assert any(p.usd_per_chip_hour == 12.29 and p.label == "DERIVED" for p in h100)


def test_economics_keys() -> None:
    econ = hw.load_economics()
    for key in (
        "pue_hyperscale",
        "electricity_usd_per_kwh_us_industrial",
        "dc_capex_usd_per_mw",
        "chip_depreciation_years",
        "power_fraction_of_tdp_training",
        "interruptions_per_chip_day",
        "restart_time_s",
    ):
        assert key in econ
    assert econ["electricity_usd_per_kwh_us_industrial"].value == 0.0771
    assert econ["dc_capex_usd_per_mw"].value == 11.7e6


# ---------------------------------------------------------------- names
@pytest.mark.parametrize(("alias", "slug"), sorted(VALIDATION_CHIP_TYPES.items()))
def test_validation_chip_types_resolve(alias: str, slug: str) -> None:
    assert hw.get_chip(alias).slug == slug
    assert hw.get_chip(alias.lower()).slug == slug


def test_unknown_chip_suggests_nearest() -> None:
    with pytest.raises(GigatrainError, match=r"unknown chip 'h100-sxmm'.*h100-sxm"):
        hw.get_chip("h100-sxmm")
    with pytest.raises(GigatrainError, match="unknown system"):
        hw.get_system("no-such-thing")


def test_single_device_system() -> None:
    chip = hw.get_chip("h100")
    system = hw.single_device_system(chip)
    assert system.chip is chip and system.max_chips == 1 and len(system.tiers) == 1


# ---------------------------------------------------------------- validation errors
GOOD_CHIP = """\
x1:
  name: Test chip
  vendor: Test
  dense_tflops: {bf16: 100}
  hbm_gb: 10
  hbm_tb_per_s: 1.0
  tdp_w: null
  matmul_efficiency: 0.8
  hbm_efficiency: 0.9
  default_system: x1-node
  source: test
  as_of: 2025-01-01
"""
GOOD_SYSTEM = """\
x1-node:
  name: Test node
  chip: x1
  chips_per_node: 8
  tiers:
    - {name: link, domain_chips: 8, bw_gb_per_s: 100, efficiency: 0.8, latency_us: 3}
  source: test
  as_of: "2025"
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_tmp_catalog_loads(tmp_path: Path) -> None:
    chips_path = _write(tmp_path, "chips.yaml", GOOD_CHIP)
    chips = hw.load_chips(chips_path)
    assert chips["x1"].as_of == "2025-01-01" and chips["x1"].hbm_bytes == 10e9
    systems = hw.load_systems(_write(tmp_path, "systems.yaml", GOOD_SYSTEM), chips_path)
    assert systems["x1-node"].tiers[0].bandwidth_bytes_per_s == 100e9


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "hbm_tb_per_s: 1.0",
            "hbm_tb_per_s: -3",
            r"chips\.yaml: x1\.hbm_tb_per_s must be a positive number, got -3",
        ),
        (
            "hbm_tb_per_s: 1.0",
            "hbm_tb_per_s: fast",
            r"x1\.hbm_tb_per_s must be a positive number, got 'fast'",
        ),
        ("  source: test\n", "", r"x1\.source is missing"),
        ("  as_of: 2025-01-01\n", "", r"x1\.as_of is missing"),
        ("tdp_w: null", "tdp_w: null\n  colour: red", r"x1\.colour is not a known field"),
        ("{bf16: 100}", "{bf17: 100}", r"x1\.dense_tflops\.bf17 is not a known format"),
        (
            "matmul_efficiency: 0.8",
            "matmul_efficiency: 1.3",
            r"x1\.matmul_efficiency must be at most 1",
        ),
        (
            "matmul_efficiency: 0.8",
            "matmul_efficiency: 0.8\n  fp8_matmul_efficiency: 1.2",
            r"x1\.fp8_matmul_efficiency must be at most 1",
        ),
        ("hbm_gb: 10", "hbm_gb: 10\n  hbm_gib: 10", r"exactly one of hbm_gb"),
    ],
)
def test_bad_chip_names_field(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = _write(tmp_path, "chips.yaml", GOOD_CHIP.replace(old, new))
    with pytest.raises(GigatrainError, match=message):
        hw.load_chips(path)


def test_unknown_default_system(tmp_path: Path) -> None:
    chips_path = _write(tmp_path, "chips.yaml", GOOD_CHIP.replace("x1-node", "x9-node"))
    systems_path = _write(tmp_path, "systems.yaml", GOOD_SYSTEM)
    with pytest.raises(GigatrainError, match=r"x1\.default_system 'x9-node' is not a system"):
        hw.load_systems(systems_path, chips_path)


def test_bad_tier_names_field(tmp_path: Path) -> None:
    chips_path = _write(tmp_path, "chips.yaml", GOOD_CHIP)
    bad = GOOD_SYSTEM.replace("bw_gb_per_s: 100", "bw_gb_per_s: 0")
    with pytest.raises(
        GigatrainError, match=r"x1-node\.tiers\[0\]\.bw_gb_per_s must be a positive"
    ):
        hw.load_systems(_write(tmp_path, "systems.yaml", bad), chips_path)


def test_malformed_yaml_gives_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "chips.yaml", GOOD_CHIP.replace("hbm_gb: 10", "hbm_gb: [10"))
    with pytest.raises(GigatrainError, match=r"chips\.yaml: invalid YAML at line \d+"):
        hw.load_chips(path)


def test_bad_price_and_constant(tmp_path: Path) -> None:
    price = '- {chip: h100, kind: rent, usd_per_chip_hour: 2, basis: b, source: s, as_of: "2025"}\n'
    with pytest.raises(GigatrainError, match=r"prices\.yaml: \[0\]\.kind must be one of"):
        hw.load_prices(_write(tmp_path, "prices.yaml", price))
    price = (
        '- {chip: h100, kind: purchase, usd_per_chip_hour: 2, basis: b, source: s, as_of: "2025"}\n'
    )
    with pytest.raises(GigatrainError, match=r"usd_per_chip_hour does not apply to kind purchase"):
        hw.load_prices(_write(tmp_path, "prices.yaml", price))
    const = "pue:\n  value: -1\n  unit: ratio\n  source: s\n  as_of: '2025'\n"
    with pytest.raises(
        GigatrainError, match=r"economics\.yaml: pue\.value must be a positive number"
    ):
        hw.load_economics(_write(tmp_path, "economics.yaml", const))


def test_duplicate_key_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "chips.yaml", GOOD_CHIP + GOOD_CHIP.splitlines()[0] + "\n  name: dup\n")
    with pytest.raises(
        GigatrainError, match=r"chips\.yaml: invalid YAML at line \d+.*duplicate key 'x1'"
    ):
        hw.load_chips(path)
