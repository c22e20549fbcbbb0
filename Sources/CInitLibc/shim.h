// The libc that minirt-init (Embedded Swift, which has no Glibc overlay) calls.
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
