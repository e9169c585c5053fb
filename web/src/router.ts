/** The console's routes; every page is its own chunk, so the first load stays small. */
import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import { hasToken, loadMe, can } from './composables/session'
import type { Role } from './lib/permissions'

declare module 'vue-router' {
  interface RouteMeta {
    /** Shown without signing in. */
    public?: boolean
    /** The page's title. */
    title?: string
    /** The least role that may open the page. */
    minRole?: Role
  }
}

const routes: RouteRecordRaw[] = [
  { path: '/login', name: 'login', component: () => import('./pages/LoginPage.vue'), meta: { public: true, title: 'Sign in' } },
  { path: '/', name: 'overview', component: () => import('./pages/OverviewPage.vue'), meta: { title: 'Overview' } },
  { path: '/chat/:id?', name: 'chat', component: () => import('./pages/ChatPage.vue'), meta: { title: 'Chat' } },
  { path: '/approvals', name: 'approvals', component: () => import('./pages/ApprovalsPage.vue'), meta: { title: 'Approvals' } },
  { path: '/jobs', name: 'jobs', component: () => import('./pages/JobsPage.vue'), meta: { title: 'Jobs' } },
  { path: '/jobs/:id', name: 'job', component: () => import('./pages/JobPage.vue'), meta: { title: 'Job' } },
  { path: '/hosts', name: 'hosts', component: () => import('./pages/HostsPage.vue'), meta: { title: 'Hosts' } },
  { path: '/hosts/:id', name: 'host', component: () => import('./pages/HostPage.vue'), meta: { title: 'Host' } },
  { path: '/clusters', name: 'clusters', component: () => import('./pages/ClustersPage.vue'), meta: { title: 'Clusters' } },
  { path: '/clusters/:id', name: 'cluster', component: () => import('./pages/ClusterPage.vue'), meta: { title: 'Cluster' } },
  { path: '/stacks', name: 'stacks', component: () => import('./pages/StacksPage.vue'), meta: { title: 'Stacks' } },
  { path: '/stacks/docs/:path(.*)', name: 'stack-doc', component: () => import('./pages/StackDocPage.vue'), meta: { title: 'Stack doc' } },
  { path: '/incidents', name: 'incidents', component: () => import('./pages/IncidentsPage.vue'), meta: { title: 'Incidents' } },
  { path: '/incidents/:id', name: 'incident', component: () => import('./pages/IncidentPage.vue'), meta: { title: 'Incident' } },
  { path: '/knowledge', name: 'knowledge', component: () => import('./pages/KnowledgePage.vue'), meta: { title: 'Knowledge' } },
  { path: '/chat-accounts', name: 'chat-accounts', component: () => import('./pages/ChatAccountsPage.vue'), meta: { title: 'Chat accounts' } },
  { path: '/audit', name: 'audit', component: () => import('./pages/AuditPage.vue'), meta: { title: 'Audit', minRole: 'admin' } },
  { path: '/admin/users', name: 'users', component: () => import('./pages/UsersPage.vue'), meta: { title: 'Users', minRole: 'admin' } },
  { path: '/:rest(.*)*', name: 'not-found', component: () => import('./pages/NotFoundPage.vue'), meta: { title: 'Not found' } },
]

export const router = createRouter({
  history: createWebHistory(),
  routes,
  scrollBehavior(to, _from, saved) {
    if (saved) return saved
    if (to.hash) return { el: to.hash, top: 72 }
    return { top: 0 }
  },
})

router.beforeEach(async (to) => {
  if (to.meta.public) return true
  if (!hasToken.value) return { name: 'login', query: { next: to.fullPath } }
  try {
    await loadMe()
  } catch {
    // A 401 already sent us to the sign-in page; any other failure is shown by the page.
    if (!hasToken.value) return { name: 'login', query: { next: to.fullPath } }
  }
  if (to.meta.minRole && !can(to.meta.minRole)) return true // the page says why it shows nothing
  return true
})

router.afterEach((to) => {
  document.title = to.meta.title ? `${to.meta.title} · Steward` : 'Steward'
})
