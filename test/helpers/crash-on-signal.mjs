// Loaded with --import: SIGUSR2 makes the process fail as a bug would, by an uncaught exception or,
// with CRASH=rejection, by an unhandled rejection.
process.on('SIGUSR2', () => {
  if (process.env.CRASH === 'rejection') Promise.reject(new Error('rejected on purpose'))
  else throw new Error('crashed on purpose')
})
