/** Stub. */
export function registerTrainingKernels(): void {}
