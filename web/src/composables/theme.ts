/** Dark or light, remembered; dark by default, as operations consoles usually are. */
import { ref, watch } from 'vue'

const KEY = 'steward.theme'
const stored = typeof localStorage !== 'undefined' ? localStorage.getItem(KEY) : null

/** True for the dark theme. */
export const dark = ref(stored ? stored === 'dark' : true)

watch(
  dark,
  (d) => {
    localStorage.setItem(KEY, d ? 'dark' : 'light')
    document.documentElement.dataset.theme = d ? 'dark' : 'light'
  },
  { immediate: true },
)
