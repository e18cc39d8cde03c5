// The op catalogue, one line per op, in the order `gradspec ops` lists them. Each name X refers to
// `op_info X_op()` defined at the bottom of reference/src/ops/X.cpp.
GRADSPEC_OP(linear)
