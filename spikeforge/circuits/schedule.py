r"""The seven phases of a step: the contract every engine of :mod:`spikeforge.circuits.engines`
meets, written once.

A :class:`~spikeforge.circuits.Network` advances with a fixed step ``dt`` (ms). Step ``k`` goes
from :math:`t_k = k\,\Delta t` to :math:`t_{k+1}`; time is the integer step count, never an
accumulated float. Both engines (:mod:`~spikeforge.circuits.engines.torch`,
:mod:`~spikeforge.circuits.engines.compiled`) run the phases of :data:`PHASES` in this order, and
their equality tests (``tests/circuits/test_network.py``, ``tests/circuits/test_engines.py``) hold
them to it.

**Order of operations within step k** (the same in every engine):

1. *Deliver*: the weights of the spikes due now are taken from each projection's ring buffer
   (summed per target neuron, times the projection's per-copy ``gain``) and added to its
   synaptic state (``g``, or ``h`` of alpha kernels), or for a ``DeltaSynapse`` to the target
   neuron's state field (``v``).
2. *Sample*: state monitors record the state at :math:`t_k` (after the delivery, before the
   integration; the first sample is the initial state).
3. *Input*: each population's input current is ``x = sum(currents) + sum(synaptic currents)``,
   computed from the synaptic states (and, for conductances, from ``v``) at :math:`t_k`; then the
   synaptic states advance to :math:`t_{k+1}`.
4. *Neurons*: each population takes one step with its model's pure step function
   (:func:`~spikeforge.neurons.lif.lif_step`, :func:`~spikeforge.neurons.alif.alif_step`,
   :func:`~spikeforge.neurons.izhikevich.izhikevich_step`, or the module's ``step``) and emits
   its spikes; input groups emit theirs.
5. *Schedule*: the spikes of this step are added to the ring buffers of their projections, each
   synapse at slot ``k + 1 + D`` (``D = delay / dt``).
   Then each Poisson input (:meth:`~spikeforge.circuits.Network.add_poisson_input`) adds its
   values of step ``k`` to its target field, as a delay-0 ``DeltaSynapse`` projection would.
6. *Learn*: each plastic projection (``connect(..., plasticity=rule)``) calls
   ``rule.step(pre, post, w, state, modulator=m)`` with the spikes of step ``k`` of its source and
   target (``[B, n]``, emitted at :math:`t_k`, before any delay), the weight matrix
   ``[n_post, n_pre]`` and the modulator ``m`` of time :math:`t_k`, and adds the returned change
   (within the rule's bounds, keeping Dale's sign and the connectivity). The spikes of step ``k``
   were scheduled in phase 5 with the weights before this change.
7. *Record*: spike and rate monitors record the step's spikes at :math:`t_k`.

This is Brian2's schedule (state update, thresholds, synaptic propagation, resets; a spike of
step ``k`` is stamped ``t_k``, its ``on_pre`` runs in step ``k + D`` after the state update), with
the propagation of step ``k + D`` written as the delivery at the start of step ``k + D + 1``:
a spike of step ``k`` through a delay ``d`` first changes its target's synaptic state at
:math:`t_{k+1} + d`, and through ``delay=0`` acts on the next step (the earliest possible).

**Jumps of v on a held neuron are lost**, as in Brian2 (and Brunel's model; NEST during
refractoriness): a ``DeltaSynapse`` or Poisson-input jump of ``v`` delivered after step ``k``
(phase 5 of step ``k`` or phase 1 of step ``k + 1``, i.e. Brian2's ``on_pre`` in step ``k``) is
dropped for a LIF or
ALIF neuron that in step ``k`` was refractory (its ``v`` held), spiked with a refractory period
to follow, or spiked and was reset to a value (Brian2 resets after the synapses). After a
subtractive reset without refractoriness the jump adds up. The networks keep, per population, a
flag of the neurons so held in the last step (part of the simulation state and ``state_dict``).
Jumps of other fields (``i``) and onto other models always add up. So with ``t_ref = 0`` and a
reset to a value, of two jumps on consecutive steps the second is lost when the first makes the
neuron spike. NEST's ``iaf_psc_delta`` tests the threshold right after adding a jump, so there
the second jump lands on ``V_reset`` and counts: without refractoriness NEST loses no jump
(``tests/reference/test_delta_reset_convention.py`` pins both).

Inputs (Poisson spikes, the values of Poisson inputs, currents, spike sources) are prepared for
:data:`CHUNK` steps at a time, before the steps of the chunk run; the random draws follow
:mod:`spikeforge.circuits.inputs`, so a chunk boundary never changes a result.
"""

from __future__ import annotations

__all__ = ["PHASES", "CHUNK"]

#: the phases of one step, in the order every engine runs them (see the module docstring)
PHASES: tuple[str, ...] = ("deliver", "sample", "input", "neurons", "schedule", "learn", "record")

#: steps per chunk: inputs are prepared, and the compiled kernel called, for this many steps at a time
CHUNK = 1000
