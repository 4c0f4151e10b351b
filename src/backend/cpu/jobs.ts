// The pool's task table: every function a worker may be asked to run, in one order that the
// dispatching thread and the workers share (a job names its task function by its index here).
import { convBackwardDataTask, convBackwardFilterTask, convFilterReduceTask, convForwardTask, convPackWeightsTask } from './conv_fast.js';
import { dropoutTask, reluBackwardTask, reluTask, sgdTask } from './eltwise_fast.js';
import { gemmTask } from './gemm_fast.js';
import { linearBiasGradTask } from './linear_fast.js';
import { softmaxLossTask } from './loss_fast.js';
import { lrnBackwardTask, lrnForwardTask } from './lrn_fast.js';
import { avgPoolBackwardTask, avgPoolForwardTask, maxPoolBackwardTask, maxPoolForwardTask } from './pool_fast.js';
import type { TaskFn } from './threads.js';

export const TASK_TABLE: readonly TaskFn[] = [
  gemmTask,
  convPackWeightsTask,
  convForwardTask,
  convBackwardDataTask,
  convBackwardFilterTask,
  convFilterReduceTask,
  linearBiasGradTask,
  reluTask,
  reluBackwardTask,
  dropoutTask,
  sgdTask,
  softmaxLossTask,
  lrnForwardTask,
  lrnBackwardTask,
  maxPoolForwardTask,
  maxPoolBackwardTask,
  avgPoolForwardTask,
  avgPoolBackwardTask,
];
