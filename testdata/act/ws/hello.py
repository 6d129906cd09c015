import sys

print("hello from the Runtime")
print("the password is hunter2-act-secret")
print("::warning::a script cannot issue this")
sys.stdout.flush()
