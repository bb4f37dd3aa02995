"""The public API: what `import spikeforge` exposes and that importing it changes nothing global."""

import subprocess
import sys
import textwrap

import spikeforge as sf


def test_contract_names_exist():
    assert sf.units.ms == 1.0 and sf.units.second == 1000.0 and sf.units.mV == 1.0 and sf.units.Hz == 1e-3
    for name in ("LIF", "ALIF", "Izhikevich", "ProbabilisticNeuron", "ScanResult"):
        assert hasattr(sf.neurons, name), name
    for name in ("FastSigmoid", "ATan", "Triangle", "StraightThrough", "Surrogate"):
        assert hasattr(sf.surrogate, name), name
    assert issubclass(sf.errors.ParameterError, ValueError)
    assert issubclass(sf.errors.ShapeError, ValueError)
    assert issubclass(sf.errors.DTypeError, TypeError)
    assert issubclass(sf.errors.MissingDependencyError, ImportError)
    assert sf.__version__


def test_import_needs_no_extras_and_configures_nothing():
    code = textwrap.dedent(
        """
        import sys, torch
        dtype, threads, state = torch.get_default_dtype(), torch.get_num_threads(), torch.get_rng_state()
        import spikeforge
        optional = ("nir", "snntorch", "norse", "brian2", "h5py", "matplotlib", "tonic")
        heavy = [m for m in optional if m in sys.modules]
        assert not heavy, heavy
        assert torch.get_default_dtype() == dtype and torch.get_num_threads() == threads
        assert torch.equal(torch.get_rng_state(), state)
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
