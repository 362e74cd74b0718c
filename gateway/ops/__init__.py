"""Operations: launching under OpenOnload, kernel-path tuning, busy polling, GC control, host preflight.

Modules:

* ``runtime``: ``OpsRuntime``, the pieces below wired in start-up order (what ``gateway run`` calls).
* ``config``: ``SpinConfig``, the ``spin:`` section of ``deploy/gateway.yaml``.
* ``acceleration`` / ``onload``: is this process under Onload, is this socket accelerated, profiles.
* ``iouring``: ``block_io_uring()``, so uvloop registers sockets with ``epoll_ctl`` (visible to Onload).
* ``tuning``: ``apply_process_tuning()``: affinity, SCHED_FIFO, mlockall, GC policy.
* ``gc_control``: ``GcController``: no full collections on the hot path, collections in quiet periods.
* ``spinner``: ``LoopSpinner``: the event loop polls without blocking for a budget after activity.
* ``sockets``: ``VenueSocketTuner``, the venue socket hook, and the per-socket acceleration registry.
* ``launch`` / ``doctor``: the logic of ``gateway launch`` and ``gateway doctor``.
* ``paths``: the directories ``gateway run`` writes in, checked by the launcher's dry run and by the run.
* ``host``: ``HostView``, the injectable view of /proc, /sys and host tools.
"""
