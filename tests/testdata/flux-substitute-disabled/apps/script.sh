#!/bin/sh
echo "${HOME} ${SHELL_ONLY}"
