// The CPU reference ops work on plain typed arrays, in Float32 for training and Float64 for
// gradient checks. Layouts are PyTorch's: activations NCHW, conv weights OIHW with
// I = C / groups, linear weights [out, in].
// Convention for every backward op: activation gradients are overwritten, parameter
// gradients are accumulated (added to what is there).
export type Arr = Float32Array | Float64Array;
