"""The CPU named in every figure's provenance (cxr_gan.machine)."""

import os

from cxr_gan.machine import cpu_description


def test_cpu_description_names_model_family_and_model_number(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n"
                       "model name\t: AMD EPYC\n\nprocessor\t: 1\ncpu family\t: 99\nmodel\t\t: 1\n")
    assert cpu_description(cpuinfo) == f"AMD EPYC family 25 model 17, {os.cpu_count()} CPUs"


def test_cpu_description_without_cpuinfo_still_names_the_count(tmp_path):
    text = cpu_description(tmp_path / "absent")
    assert text.endswith(f"family ? model ?, {os.cpu_count()} CPUs")
