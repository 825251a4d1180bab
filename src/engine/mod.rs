//! Pure evaluation: workloads × standards × exceptions × baselines ×
//! ownership → verdicts. No I/O, no clock of its own (time is an input), no
//! kube client. Shared by the controller and the offline audit.
