import sys
import time

print("sleeping", flush=True)
time.sleep(300)
print("woke up")
